"""The People page: accounts, roles, deactivation, set-password links, the log."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotator import services
from annotator.models import AccountEvent
from annotator.roles import has_role
from tests import factories

URL = "/people/"
User = get_user_model()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def link_in(response) -> str:
    text = response.content.decode()
    found = re.search(r'class="copy-link" readonly value="([^"]+)"', text)
    assert found, "no set-password link on the page"
    return found.group(1)


def test_only_managers_open_the_page(cast):
    for user in (cast.reader1, cast.adjudicator):
        assert client_for(user).get(URL).status_code == 404
        assert (
            client_for(user)
            .post(URL, {"action": "create", "username": "x"})
            .status_code
            == 404
        )
    assert not User.objects.filter(username="x").exists()
    assert Client().get(URL).status_code == 302


def test_a_new_account_gets_a_one_time_link_that_sets_its_password(cast):
    manager = client_for(cast.manager)
    page = manager.post(
        URL,
        {
            "action": "create",
            "username": "dr.silva",
            "full_name": "Ana Silva",
            "roles": ["reader"],
        },
        follow=True,
    )
    user = User.objects.get(username="dr.silva")
    assert not user.has_usable_password() and has_role(user, "reader")
    url = link_in(page)
    assert "/set-password/" in url
    # The link, opened by the new reader (no session), sets the password.
    visitor = Client()
    form = visitor.get(url, follow=True)
    assert form.status_code == 200 and b"Set your password" in form.content
    done = visitor.post(
        form.redirect_chain[-1][0] if form.redirect_chain else url,
        {
            "new_password1": "a long new pass 8431",
            "new_password2": "a long new pass 8431",
        },
        follow=True,
    )
    assert b"Password set" in done.content
    assert visitor.login(username="dr.silva", password="a long new pass 8431")
    # It works once.
    again = Client().get(url, follow=True)
    assert b"has been used or has expired" in again.content
    actions = list(
        AccountEvent.objects.filter(subject=user).values_list("action", flat=True)
    )
    assert sorted(actions) == ["created", "password_link"]


def test_roles_and_activation_change_and_are_recorded(cast):
    manager = client_for(cast.manager)
    target = cast.reader1
    manager.post(URL, {"action": "give", "user": target.pk, "role": "adjudicator"})
    manager.post(URL, {"action": "take", "user": target.pk, "role": "reader"})
    target.refresh_from_db()
    target.__dict__.pop("_role_cache", None)
    assert has_role(target, "adjudicator") and not has_role(target, "reader")
    manager.post(URL, {"action": "deactivate", "user": target.pk})
    target.refresh_from_db()
    assert not target.is_active
    assert not Client().login(username="reader1", password=factories.PASSWORD)
    page = manager.get(URL).content.decode()
    assert "Role given: adjudicator" in page and "Deactivated" in page
    events = AccountEvent.objects.filter(subject=target).order_by("id")
    assert [(e.actor, e.action) for e in events] == [
        (cast.manager, "role_given"),
        (cast.manager, "role_taken"),
        (cast.manager, "deactivated"),
    ]
    # A deactivated account gets no link.
    page = manager.post(URL, {"action": "link", "user": target.pk}, follow=True)
    assert "reactivate it first" in page.content.decode()


def test_bad_requests_change_nothing(cast):
    manager = client_for(cast.manager)
    before = AccountEvent.objects.count()
    page = manager.post(URL, {"action": "create", "username": "reader1"})
    assert "already exists" in page.content.decode()
    page = manager.post(URL, {"action": "create", "username": "bad name!"})
    assert page.status_code == 200 and "username" in page.context["form"].errors
    page = manager.post(
        URL, {"action": "create", "username": "ok", "roles": ["superuser"]}
    )
    assert "roles" in page.context["form"].errors
    assert (
        manager.post(
            URL, {"action": "give", "user": 10**9, "role": "reader"}
        ).status_code
        == 404
    )
    assert (
        manager.post(URL, {"action": "give", "user": "x", "role": "reader"}).status_code
        == 404
    )
    page = manager.post(
        URL, {"action": "take", "user": cast.manager.pk, "role": "manager"}, follow=True
    )
    assert "your own manager role" in page.content.decode()
    page = manager.post(
        URL, {"action": "deactivate", "user": cast.manager.pk}, follow=True
    )
    assert "your own account" in page.content.decode()
    machine = services.machine_account("model-x")
    assert (
        manager.post(
            URL, {"action": "give", "user": machine.pk, "role": "reader"}
        ).status_code
        == 404
    )
    assert AccountEvent.objects.count() == before
    assert not User.objects.filter(username__in=["ok", "bad name!"]).exists()


def test_a_hostile_name_is_shown_as_text(cast):
    manager = client_for(cast.manager)
    manager.post(
        URL,
        {
            "action": "create",
            "username": "evil",
            "full_name": "<script>alert(1)</script>",
        },
    )
    page = manager.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("bad", ["not-base64", "MQ"])
def test_a_forged_link_opens_nothing(cast, bad):
    page = Client().get(f"/set-password/{bad}/abc-123/", follow=True)
    assert page.status_code == 200
    assert b"has been used or has expired" in page.content
