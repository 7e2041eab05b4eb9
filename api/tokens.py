"""API tokens that expire, can be revoked, and die with a password change.

DRF's token never expires and survives a password change. Here a token lives
``API_TOKEN_HOURS`` from its creation; an expired one is deleted when it is
next presented. ``DELETE /api/auth/token/`` revokes the caller's token, and
saving a user with a new password deletes theirs (``revoke_on_password_change``,
connected in ``ApiConfig.ready``), as Django already does for sessions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def lifetime() -> dt.timedelta:
    return dt.timedelta(hours=settings.API_TOKEN_HOURS)


def is_expired(token: Token) -> bool:
    return token.created <= timezone.now() - lifetime()


def issue(user: Any) -> Token:
    """The user's token: the current one while it lives, else a new one."""
    token = Token.objects.filter(user=user).first()
    if token is not None and not is_expired(token):
        return token
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token …``, refused once the token has outlived its life."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user, token = super().authenticate_credentials(key)
        if is_expired(token):
            token.delete()
            raise AuthenticationFailed(
                "Token expired; ask for a new one at /api/auth/token/."
            )
        return user, token


def revoke_on_password_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_save`` of the user model: a new password ends the user's token."""
    if instance.pk is None or kwargs.get("raw"):
        return
    stored = (
        get_user_model()
        .objects.filter(pk=instance.pk)
        .values_list("password", flat=True)
        .first()
    )
    if stored is not None and stored != instance.password:
        Token.objects.filter(user_id=instance.pk).delete()
