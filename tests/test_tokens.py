"""API tokens expire, can be revoked, and end with a password change."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db


def get_token(username: str = "reader1") -> dict:
    response = APIClient().post(
        "/api/auth/token/",
        {"username": username, "password": factories.PASSWORD},
        format="json",
    )
    assert response.status_code == 200
    return response.json()


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@override_settings(API_TOKEN_HOURS=12)
def test_a_token_lives_its_lifetime_then_is_refused_and_deleted(cast):
    issued = get_token()
    expires = dt.datetime.fromisoformat(issued["expires_at"])
    assert (
        dt.timedelta(hours=11, minutes=59)
        < expires - timezone.now()
        <= (dt.timedelta(hours=12))
    )
    assert get_token()["token"] == issued["token"]  # the same while it lives
    assert with_token(issued["token"]).get("/api/taxonomies/").status_code == 200
    Token.objects.filter(key=issued["token"]).update(
        created=timezone.now() - dt.timedelta(hours=12, seconds=1)
    )
    refused = with_token(issued["token"]).get("/api/taxonomies/")
    assert refused.status_code == 401
    assert "Token expired" in refused.json()["detail"]
    assert not Token.objects.filter(key=issued["token"]).exists()
    fresh = get_token()["token"]
    assert fresh != issued["token"]
    assert with_token(fresh).get("/api/taxonomies/").status_code == 200


def test_an_expired_token_is_replaced_at_the_next_login(cast):
    old = get_token()["token"]
    Token.objects.filter(key=old).update(created=timezone.now() - dt.timedelta(days=8))
    new = get_token()["token"]
    assert new != old
    assert list(Token.objects.values_list("key", flat=True)) == [new]


def test_a_token_can_be_revoked_by_its_holder(cast):
    key = get_token()["token"]
    client = with_token(key)
    assert client.delete("/api/auth/token/").status_code == 204
    assert client.get("/api/taxonomies/").status_code == 401
    assert not Token.objects.filter(key=key).exists()
    assert APIClient().delete("/api/auth/token/").status_code == 401
    assert with_token("not-a-token").delete("/api/auth/token/").status_code == 401


def test_a_password_change_ends_the_token(cast):
    reader1_key = get_token("reader1")["token"]
    reader2_key = get_token("reader2")["token"]
    cast.reader1.set_password("a-new-long-password-1")
    cast.reader1.save()
    assert with_token(reader1_key).get("/api/taxonomies/").status_code == 401
    assert with_token(reader2_key).get("/api/taxonomies/").status_code == 200
    cast.reader2.first_name = "Ana"
    cast.reader2.save()  # other changes leave the token alone
    assert with_token(reader2_key).get("/api/taxonomies/").status_code == 200
