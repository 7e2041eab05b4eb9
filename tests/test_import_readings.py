"""Readings made elsewhere join a campaign through ``import_readings``."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from annotator.models import Campaign, CampaignExam, Decision, LabelRevision
from tests import factories


@pytest.fixture
def exams(db):
    return factories.make_exams(3)


def write(tmp_path: Path, text: str, name: str = "readings.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_labels_column_creates_the_campaign_and_reader_accounts(
    tmp_path, exams, cast, capsys
):
    path = write(
        tmp_path,
        (
            "exam_id,reader,labels\n"
            "E00000,reader1,SR;RBBB\n"
            "E00000,dr_silva,SR;RBBB\n"
            "E00001,reader1,AF\n"
            "E00001,dr_silva,AFL\n"
            "E00002,reader1,NORM\n"
        ),
    )
    call_command("import_readings", path, "--campaign", "Legacy")
    out = capsys.readouterr().out
    assert "5 readings imported" in out and "(created)" in out
    campaign = Campaign.objects.get(name="Legacy")
    assert campaign.readers_per_exam == 2
    assert set(campaign.readers.values_list("username", flat=True)) == {
        "reader1",
        "dr_silva",
    }
    newcomer = User.objects.get(username="dr_silva")
    assert not newcomer.has_usable_password()
    states = dict(
        CampaignExam.objects.filter(campaign=campaign).values_list(
            "exam__exam_id", "consensus_state"
        )
    )
    assert states == {
        "E00000": "unanimous",
        "E00001": "needs_adjudication",
        "E00002": "pending",
    }
    assert set(LabelRevision.objects.values_list("source", flat=True)) == {"import"}


def test_one_column_per_class_is_read_as_zero_or_one(tmp_path, exams, cast):
    path = write(
        tmp_path,
        ("exam_id,reader,AF,RBBB,NORM\nE00000,reader1,1,0,0\nE00000,reader2,1,1,0\n"),
    )
    call_command("import_readings", path, "--campaign", "Wide")
    labels = dict(
        Decision.objects.values_list("assignment__reader__username", "labels")
    )
    assert labels == {"reader1": ["AF"], "reader2": ["AF", "RBBB"]}


def test_bad_rows_are_reported_and_the_rest_imported(tmp_path, exams, cast, capsys):
    path = write(
        tmp_path,
        (
            "exam_id,reader,labels\n"
            "E00000,reader1,AF\n"
            "NOPE,reader1,AF\n"
            "E00001,reader1,AF;XYZ\n"
            "E00002,reader1,SR;AF\n"
        ),
    )
    call_command("import_readings", path, "--campaign", "Mixed")
    out = capsys.readouterr().out
    assert "1 readings imported" in out and "3 rejected" in out
    assert "exam id 'NOPE': no such exam" in out
    assert "row 4 (exam E00001): Unknown class code(s)" in out and "XYZ" in out
    assert "row 5 (exam E00002): SR and AF are mutually exclusive" in out
    assert Decision.objects.count() == 1


def test_a_value_other_than_0_or_1_is_reported(tmp_path, exams, cast, capsys):
    path = write(tmp_path, "exam_id,reader,AF\nE00000,reader1,2\nE00001,reader1,1\n")
    call_command("import_readings", path, "--campaign", "Values")
    assert "column AF has '2'; expected 0 or 1" in capsys.readouterr().out
    assert Decision.objects.count() == 1


def test_reimport_skips_identical_readings_and_refuses_changed_ones(
    tmp_path, exams, cast, capsys
):
    first = write(tmp_path, "exam_id,reader,labels\nE00000,reader1,AF\n")
    call_command("import_readings", first, "--campaign", "Again")
    call_command("import_readings", first, "--campaign", "Again")
    assert "0 readings imported, 1 already present" in capsys.readouterr().out
    changed = write(tmp_path, "exam_id,reader,labels\nE00000,reader1,AFL\n", "b.csv")
    with pytest.raises(CommandError, match="No reading was imported"):
        call_command("import_readings", changed, "--campaign", "Again")
    assert "already has a different read" in capsys.readouterr().out
    assert list(Decision.objects.values_list("labels", flat=True)) == [["AF"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exam_id,labels\nE00000,AF\n", "missing column 'reader'"),
        ("exam_id,reader,AF,BOGUS\nE00000,reader1,1,0\n", "not class codes"),
        ("exam_id,reader,labels,AF\nE00000,reader1,AF,1\n", "not both"),
        ("exam_id,reader,labels\n", "no readings"),
        ("exam_id,reader,labels\nX1,reader1,AF\n", "none of its exam ids is known"),
    ],
)
def test_unusable_files_change_nothing(tmp_path, exams, cast, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CommandError, match=message):
        call_command("import_readings", path, "--campaign", "Broken")
    assert not Campaign.objects.filter(name="Broken").exists()
    assert not Decision.objects.exists()


def test_create_campaign_command(exams, cast, capsys):
    call_command(
        "create_campaign",
        "Shell",
        "--dataset",
        "test",
        "--readers",
        "reader1,reader2",
        "--adjudicators",
        "adjudicator",
        "--adjudicate-classes",
        "AF,RBBB",
    )
    campaign = Campaign.objects.get(name="Shell")
    assert campaign.exam_links.count() == 3
    assert campaign.adjudication_policy == "classes"
    assert "3 exams" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Unknown readers: ghost"):
        call_command("create_campaign", "X", "--dataset", "test", "--readers", "ghost")
    assert not Campaign.objects.filter(name="X").exists()


@pytest.mark.parametrize(
    "name", ["dr|evil", "has space", "<script>alert(1)</script>", "x" * 151]
)
def test_a_reader_name_outside_the_username_rules_is_refused(
    tmp_path, exams, cast, capsys, name
):
    """A '|' in a name broke every agreement job (it separates the pair keys):
    names become accounts only under the user model's own rules."""
    path = write(
        tmp_path,
        f"exam_id,reader,labels\nE00000,{name},AF\nE00001,reader_ok,AF\n",
    )
    call_command("import_readings", path, "--campaign", "Names")
    out = capsys.readouterr().out
    assert f"reader {name!r} refused:" in out
    assert f"row 2: reader {name!r} was refused" in out
    assert not User.objects.filter(username=name).exists()
    assert list(Decision.objects.values_list("reader__username", flat=True)) == [
        "reader_ok"
    ]
    campaign = Campaign.objects.get(name="Names")
    assert list(campaign.readers.values_list("username", flat=True)) == ["reader_ok"]
