"""Failed logins, tried as an attacker would: every way in is throttled, per
(username, address), with a ceiling per address, race-free, without Redis."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from axes.models import AccessAttempt
from django.db import connection
from django.test import Client, override_settings

from tests import factories

TOKEN = "/api/auth/token/"
LIMIT = 10  # AXES_FAILURE_LIMIT's default here
# The limit-th failure is tested against the password and answered with the
# lockout; every attempt after it is refused without a password test.
LOCKED_AT_LIMIT = [400] * (LIMIT - 1) + [429]


def token_login(username: str, password: str, address: str) -> int:
    response = Client().post(
        TOKEN,
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )
    return response.status_code


def guess(username: str, address: str, times: int = LIMIT) -> list[int]:
    return [token_login(username, "wrong-guess", address) for _ in range(times)]


@pytest.mark.django_db
def test_the_admin_login_is_throttled(cast):
    """60 wrong passwords then the right one used to log in to the admin."""
    client = Client()
    answers = [
        client.post(
            "/admin/login/",
            {"username": "manager", "password": "wrong", "next": "/admin/"},
            REMOTE_ADDR="10.9.9.9",
        ).status_code
        for _ in range(LIMIT)
    ]
    assert answers == [200] * (LIMIT - 1) + [429]  # the form with its error
    right = client.post(
        "/admin/login/",
        {"username": "manager", "password": factories.PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="10.9.9.9",
    )
    assert right.status_code == 429
    assert right["Retry-After"]
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_login_page_says_why_it_refuses(cast):
    client = Client()
    for _ in range(LIMIT):
        client.post(
            "/login/", {"username": "reader1", "password": "x"}, REMOTE_ADDR="10.8.8.8"
        )
    page = client.post(
        "/login/",
        {"username": "reader1", "password": factories.PASSWORD},
        REMOTE_ADDR="10.8.8.8",
    )
    assert page.status_code == 429
    assert b"Too many failed logins. Try again in 15 minutes." in page.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_guesses_from_elsewhere_do_not_lock_a_user_out_of_their_machine(cast):
    assert guess("manager", "203.0.113.66") == LOCKED_AT_LIMIT
    assert token_login("manager", factories.PASSWORD, "203.0.113.66") == 429
    assert token_login("manager", factories.PASSWORD, "10.0.0.5") == 200


@pytest.mark.django_db
def test_one_readers_typos_do_not_lock_out_the_others_behind_one_address(cast):
    """A hospital NAT is one address for everyone behind it."""
    guess("reader1", "10.1.1.1")
    assert token_login("reader1", factories.PASSWORD, "10.1.1.1") == 429
    assert token_login("reader2", factories.PASSWORD, "10.1.1.1") == 200


@pytest.mark.django_db
@override_settings(ANNOTATOR_LOGIN_ADDRESS_LIMIT=20)
def test_spraying_usernames_from_one_address_stops_at_its_ceiling(cast):
    sprayed = [
        token_login(f"user{i:02d}", "Summer2026!", "10.2.2.2") for i in range(30)
    ]
    assert sprayed == [400] * 20 + [429] * 10
    assert AccessAttempt.objects.filter(ip_address="10.2.2.2").count() == 20
    assert token_login("reader1", factories.PASSWORD, "10.2.2.2") == 429
    assert token_login("reader1", factories.PASSWORD, "10.3.3.3") == 200


@pytest.mark.django_db
def test_a_right_password_clears_its_own_failures(cast):
    guess("reader1", "10.4.4.4", LIMIT - 1)
    assert token_login("reader1", factories.PASSWORD, "10.4.4.4") == 200
    assert guess("reader1", "10.4.4.4", LIMIT - 1) == [400] * (LIMIT - 1)


@pytest.mark.django_db
def test_failures_are_counted_in_the_database_without_names_of_passwords(cast):
    guess("reader1", "10.5.5.5", 3)
    (attempt,) = AccessAttempt.objects.filter(ip_address="10.5.5.5")
    assert (attempt.username, attempt.failures_since_start) == ("reader1", 3)
    assert "wrong-guess" not in attempt.post_data + attempt.get_data


@pytest.mark.django_db
@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
)
def test_token_login_needs_no_cache(cast):
    """Token login answered 500 when Redis was down; the count is in the database."""
    assert token_login("reader1", "wrong", "10.6.6.6") == 400
    assert token_login("reader1", factories.PASSWORD, "10.6.6.6") == 200


@pytest.mark.django_db(transaction=True)
def test_simultaneous_guesses_get_no_more_than_the_limit_through(postgres):
    """40 wrong passwords at once let 17 through the old throttle; exactly the
    limit is tested against the password now, the rest are refused."""
    factories.make_user("target", "reader")
    statuses: Counter = Counter()
    barrier = threading.Barrier(40)

    def attempt() -> None:
        try:
            barrier.wait()
            statuses[token_login("target", "wrong-guess", "198.51.100.7")] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == {400: LIMIT - 1, 429: 40 - LIMIT + 1}
    (attempt,) = AccessAttempt.objects.filter(username="target")
    assert attempt.failures_since_start == LIMIT  # tested against the password
