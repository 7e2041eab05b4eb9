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


def test_a_failed_login_keeps_the_username_but_never_the_password(cast):
    client = Client()
    typed = {"username": "reader1", "password": "not the password"}
    page = client.post("/login/", typed)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Wrong username or password. Try again." in html
    assert 'value="reader1"' in html
    assert "not the password" not in html
    password = html[html.index('id="id_password"') :].split(">", 1)[0]
    assert "value=" not in password
    # The password field gets the focus: only it needs typing again.
    assert "autofocus" in password
    assert 'aria-describedby="login-error"' in password


def test_a_typed_username_is_escaped_when_shown_again(cast):
    page = Client().post("/login/", {"username": '"><b>x', "password": "nope"})
    assert b'value="&quot;&gt;&lt;b&gt;x"' in page.content


def test_a_locked_out_login_keeps_the_username(cast):
    client = Client()
    for _ in range(10):
        client.post("/login/", {"username": "reader2", "password": "nope"})
    blocked = client.post("/login/", {"username": "reader2", "password": "nope"})
    assert blocked.status_code == 429
    assert b'value="reader2"' in blocked.content
    assert b"nope" not in blocked.content


def test_the_login_page_starts_empty(cast):
    html = Client().get("/login/").content.decode()
    username = html[html.index('id="id_username"') :].split(">", 1)[0]
    assert 'value=""' in username and "autofocus" in username


def test_logout_ends_the_session(cast):
    client = Client()
    client.force_login(cast.reader1)
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_each_page_opens_for_its_role_and_is_refused_or_not_found_for_others(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(1))
    pages = {
        f"/read/{campaign.pk}/": {"reader1", "reader2"},
        f"/adjudicate/{campaign.pk}/": {"adjudicator", "manager"},
        f"/campaigns/{campaign.pk}/": {"manager"},
        "/jobs/": {"manager"},
        "/exams/": {"manager"},
    }
    for url, allowed in pages.items():
        for role in ("reader1", "reader2", "adjudicator", "manager", "outsider"):
            client = Client()
            client.force_login(getattr(cast, role))
            # A campaign's id says nothing to those outside it (404); the
            # manager's pages without an id are refused as such (403).
            refused = 404 if str(campaign.pk) in url else 403
            expected = 200 if role in allowed else refused
            assert client.get(url).status_code == expected, (url, role)
        assert Client().get(url).status_code == 302  # anonymous → login


def test_plotly_is_served_from_the_installed_package_with_a_long_cache(cast):
    import plotly

    client = Client()
    response = client.get(f"/vendor/plotly-{plotly.__version__}.min.js")
    assert response.status_code == 200
    assert b"plotly" in response.content[:2000].lower()
    assert "immutable" in response.headers["Cache-Control"]
    assert client.get("/vendor/plotly-0.0.1.min.js").status_code == 404


def test_plotly_is_sent_gzipped_when_the_browser_accepts_it(cast):
    import gzip

    import plotly

    url = f"/vendor/plotly-{plotly.__version__}.min.js"
    plain = Client().get(url)
    packed = Client().get(url, HTTP_ACCEPT_ENCODING="gzip, br")
    assert packed.headers["Content-Encoding"] == "gzip"
    assert len(packed.content) < len(plain.content) / 3
    assert gzip.decompress(packed.content) == plain.content
    assert "Accept-Encoding" in packed.headers["Vary"]
