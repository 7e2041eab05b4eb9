"""Browser pages served by Django: login, logout, home."""

from __future__ import annotations

from django.test import Client

from tests import factories


def test_login_page_logs_in_and_home_lists_the_callers_campaigns(cast):
    factories.make_campaign(cast, factories.make_exams(1), name="Pilot study")
    client = Client()
    assert client.get("/").status_code == 302  # anonymous → login
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post(
        "/login/", {"username": "reader1", "password": factories.PASSWORD}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert b"Pilot study" in home.content


def test_outsider_does_not_see_other_campaigns(cast):
    factories.make_campaign(cast, factories.make_exams(1), name="Pilot study")
    client = Client()
    client.force_login(cast.outsider)
    assert b"Pilot study" not in client.get("/").content


def test_wrong_password_shows_an_error_and_repeated_failures_get_429(cast):
    client = Client()
    bad = {"username": "reader2", "password": "nope"}
    first = client.post("/login/", bad)
    assert first.status_code == 200 and b"Wrong username or password" in first.content
    for _ in range(9):
        client.post("/login/", bad)
    blocked = client.post(
        "/login/", {"username": "reader2", "password": factories.PASSWORD}
    )
    assert blocked.status_code == 429
    assert b"Too many failed logins" in blocked.content
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(cast):
    client = Client()
    client.force_login(cast.reader1)
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302
