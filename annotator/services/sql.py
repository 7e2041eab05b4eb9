"""The statements of the claim and submit path, in SQL for PostgreSQL and SQLite.

Every claim and every submission runs these; measured (``bench/RESULTS.md``,
"One home for each rule"), the ORM spent more Python compiling them than the
database spent running them, and the web process's CPU per claim→submit cycle
nearly doubled. So the hot statements are written once here, in plain SQL
that both databases run (``UPDATE … RETURNING`` needs SQLite 3.35). The one
dialect difference is the row-lock clause: PostgreSQL gets ``FOR NO KEY
UPDATE`` (and ``SKIP LOCKED`` where asked); SQLite, which lets one writer in
at a time, needs none. Rows come back as model instances through
``Manager.raw()``, which applies each field's database converters.

``tests/test_sql.py`` runs every statement on SQLite and on PostgreSQL. The
services decide what to run and in which order (``services/locks.py``); this
module only says how.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import connection

from annotator.models import Assignment, Campaign, CampaignExam, CampaignReader
from annotator.models.reads import HOLDING

_ASSIGNMENT = Assignment._meta.db_table
_LINK = CampaignExam._meta.db_table
_READER = CampaignReader._meta.db_table
_CAMPAIGN = Campaign._meta.db_table
_CLAIMED = Assignment.Status.CLAIMED.value
_SUBMITTED = Assignment.Status.SUBMITTED.value
_HOLDING = tuple(status.value for status in HOLDING)
_READ = Assignment.Kind.READ.value


def _lock(*, of: str = "", skip: bool = False) -> str:
    """The row-lock clause of a SELECT on this database ('' where there is none)."""
    features = connection.features
    if not features.has_select_for_update:
        return ""
    postgres = connection.vendor == "postgresql"
    clause = " FOR NO KEY UPDATE" if postgres else " FOR UPDATE"
    if of and features.has_select_for_update_of:
        clause += f" OF {of}"
    if skip and features.has_select_for_update_skip_locked:
        clause += " SKIP LOCKED"
    return clause


def _time(value: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _execute(sql: str, params: list[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- Readers ---------------------------------------------------------------------


def lock_member(campaign_id: int, user_id: Any) -> CampaignReader | None:
    """The reader's row of the campaign, locked; None if they do not read it."""
    rows = CampaignReader.objects.raw(
        f"SELECT * FROM {_READER} WHERE campaign_id = %s AND user_id = %s{_lock()}",
        [campaign_id, user_id],
    )
    return next(iter(rows), None)


def lock_member_of_claim(assignment_id: int, user_id: Any) -> int | None:
    """Lock the reader's row of the campaign an assignment belongs to; its id."""
    rows = _rows(
        f"SELECT m.id FROM {_READER} m JOIN {_ASSIGNMENT} a "
        "ON a.campaign_id = m.campaign_id "
        f"WHERE a.id = %s AND m.user_id = %s{_lock(of='m')}",
        [assignment_id, user_id],
    )
    return rows[0][0] if rows else None


def update_member(member_id: int, *, submitted: int = 0, cursor: int = 0) -> None:
    """Add ``submitted`` reads to the reader's count; move their cursor up to
    ``cursor`` (never down)."""
    _execute(
        f"UPDATE {_READER} SET n_submitted = n_submitted + %s, "
        "cursor = CASE WHEN cursor < %s THEN %s ELSE cursor END WHERE id = %s",
        [submitted, cursor, cursor, member_id],
    )


# --- Claims ----------------------------------------------------------------------


def stale_claims(
    campaign_id: int, now: dt.datetime, limit: int
) -> list[tuple[int, int, str]]:
    """(id, exam id, kind) of claims whose lease ran out, locked, skipping rows
    that a submission in progress holds."""
    return _rows(
        f"SELECT id, exam_id, kind FROM {_ASSIGNMENT} WHERE campaign_id = %s "
        "AND status = %s AND lease_expires_at <= %s ORDER BY id LIMIT %s"
        f"{_lock(skip=True)}",
        [campaign_id, _CLAIMED, _time(now), limit],
    )


def renew_oldest_claim(
    campaign_id: int, reader_id: Any, lease: dt.datetime, *, besides: int
) -> Assignment | None:
    """Renew the lease of the reader's oldest unfinished claim (not ``besides``).

    The outer status test makes a claim that another transaction has just
    expired or submitted not count as renewed.
    """
    rows = Assignment.objects.raw(
        f"UPDATE {_ASSIGNMENT} SET lease_expires_at = %s "
        "WHERE status = %s AND id = ("
        f"SELECT id FROM {_ASSIGNMENT} WHERE campaign_id = %s AND reader_id = %s "
        "AND status = %s AND id <> %s ORDER BY claimed_at, id LIMIT 1"
        ") RETURNING *",
        [_time(lease), _CLAIMED, campaign_id, reader_id, _CLAIMED, besides],
    )
    return next(iter(rows), None)


def open_exams(
    campaign_id: int, reader_id: Any, *, after: int, limit: int, lock: bool = True
) -> list[tuple[int, int]]:
    """(link id, exam id) of open exams after ``after`` that the reader does not
    hold, in exam order. With ``lock`` the rows are locked and rows that other
    transactions have locked are passed over (``SKIP LOCKED``); without it
    nothing is locked or waited for, and the caller's conditional UPDATE
    (``take_slot``) decides.

    The reader's own exams are looked up above ``after`` only, so the test
    stays a few rows however many exams the reader has read.
    """
    return _rows(
        f"SELECT id, exam_id FROM {_LINK} WHERE campaign_id = %s AND is_open "
        "AND exam_id > %s AND exam_id NOT IN ("
        f"SELECT exam_id FROM {_ASSIGNMENT} WHERE campaign_id = %s "
        "AND reader_id = %s AND exam_id > %s AND status IN (%s, %s)"
        f") ORDER BY exam_id LIMIT %s{_lock(of=_LINK, skip=True) if lock else ''}",
        [campaign_id, after, campaign_id, reader_id, after, *_HOLDING, limit],
    )


def skips_locked_rows() -> bool:
    """Whether ``open_exams`` can pass over rows that others have locked."""
    return connection.features.has_select_for_update_skip_locked


def take_slot(campaign_id: int, exam_id: int, overlap: int) -> bool:
    """Count one more reader on an exam if it has room; False if it is full.

    The single conditional UPDATE is the whole guard: two readers racing for
    the last slot cannot both see ``n_assigned < overlap`` succeed.
    """
    return bool(
        _execute(
            f"UPDATE {_LINK} SET n_assigned = n_assigned + 1, "
            "is_open = (n_assigned + 1 < %s) "
            "WHERE campaign_id = %s AND exam_id = %s AND n_assigned < %s",
            [overlap, campaign_id, exam_id, overlap],
        )
    )


def insert_claim(
    campaign_id: int,
    exam_id: int,
    reader_id: Any,
    now: dt.datetime,
    lease: dt.datetime,
    kind: str = _READ,
) -> Assignment:
    """A new claim of the exam by the reader (a read, unless ``kind`` says)."""
    rows = Assignment.objects.raw(
        f"INSERT INTO {_ASSIGNMENT} (campaign_id, exam_id, reader_id, status, "
        "claimed_at, lease_expires_at, kind) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "RETURNING *",
        [campaign_id, exam_id, reader_id, _CLAIMED, _time(now), _time(lease), kind],
    )
    return next(iter(rows))


def lock_link(campaign_id: int, exam_id: int) -> CampaignExam:
    """The exam's row in the campaign, locked (its counters and consensus)."""
    rows = CampaignExam.objects.raw(
        f"SELECT * FROM {_LINK} WHERE campaign_id = %s AND exam_id = %s{_lock()}",
        [campaign_id, exam_id],
    )
    return next(iter(rows))


def mark_submitted(assignment_id: int, now: dt.datetime) -> None:
    _execute(
        f"UPDATE {_ASSIGNMENT} SET status = %s, submitted_at = %s WHERE id = %s",
        [_SUBMITTED, _time(now), assignment_id],
    )


# --- Counters --------------------------------------------------------------------

_COUNTERS = frozenset(
    field.name
    for field in Campaign._meta.concrete_fields
    if field.name.startswith("n_")
)


def add_to_campaign(campaign_id: int, deltas: Mapping[str, int]) -> None:
    """Add ``deltas`` (counter field → change) to the campaign's counters in one
    UPDATE. Only counter fields are accepted."""
    unknown = set(deltas) - _COUNTERS
    if unknown:
        raise ValueError(f"Not a campaign counter: {', '.join(sorted(unknown))}")
    names = sorted(deltas)
    assignments = ", ".join(f"{name} = {name} + %s" for name in names)
    _execute(
        f"UPDATE {_CAMPAIGN} SET {assignments} WHERE id = %s",
        [*(deltas[name] for name in names), campaign_id],
    )
