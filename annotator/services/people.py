"""Accounts run by managers: created, roles given and taken, deactivated, and
one-time links to set a password. Every change is an ``AccountEvent``.

A new account has no usable password: the manager makes a set-password link and
hands it over (no email needed). The link is Django's password-reset token,
which works once (setting the password changes what it is made from) and
expires after ``PASSWORD_RESET_TIMEOUT`` seconds. Machine accounts (models'
readings) are not people and are refused here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from annotator.models import AccountEvent
from annotator.roles import Role, is_machine
from annotator.services.errors import Conflict, WorkflowError

# The roles a manager gives and takes on the People page.
PEOPLE_ROLES = (Role.READER, Role.ADJUDICATOR, Role.MANAGER)
Action = AccountEvent.Action


class AccountRefused(WorkflowError):
    """An account change the rules refuse; ``field`` names what to correct."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _record(actor: Any, subject: Any, action: str, detail: str = "") -> None:
    AccountEvent.objects.create(
        actor=actor, subject=subject, action=action, detail=detail[:200]
    )


def _person(user: Any) -> None:
    if is_machine(user):
        raise Conflict(
            _("%(name)s is a machine reader, not a person.")
            % {"name": user.get_username()}
        )


def _role(role: str) -> Role:
    if role not in PEOPLE_ROLES:
        raise AccountRefused(_("Unknown role %(role)r.") % {"role": role}, "roles")
    return Role(role)


@transaction.atomic
def create_account(
    *, actor: Any, username: str, full_name: str = "", roles: Iterable[str] = ()
) -> Any:
    """A new active account with ``roles`` and no usable password yet."""
    model = get_user_model()
    roles = [_role(role) for role in roles]
    user = model(username=username.strip(), first_name=full_name.strip()[:150])
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise AccountRefused(
            messages[0], "username" if field == "username" else None
        ) from None
    user.set_unusable_password()
    user.save()
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    _record(actor, user, Action.CREATED, ", ".join(roles))
    return user


@transaction.atomic
def set_role(*, actor: Any, user: Any, role: str, on: bool) -> bool:
    """Give (``on``) or take a role; whether anything changed. A manager cannot
    take their own manager role (nobody could give it back from here)."""
    _person(user)
    role = _role(role)
    group = Group.objects.get_or_create(name=role)[0]
    has = user.groups.filter(pk=group.pk).exists()
    if has == on:
        return False
    if not on and role == Role.MANAGER and user.pk == actor.pk:
        raise AccountRefused(_("You cannot take your own manager role."), "roles")
    if on:
        user.groups.add(group)
    else:
        user.groups.remove(group)
    user.__dict__.pop("_role_cache", None)
    _record(actor, user, Action.ROLE_GIVEN if on else Action.ROLE_TAKEN, role)
    return True


@transaction.atomic
def set_active(*, actor: Any, user: Any, active: bool) -> bool:
    """Deactivate (or reactivate) an account; whether anything changed. An
    inactive account cannot log in; its reads and history stay."""
    _person(user)
    if user.is_active == active:
        return False
    if not active and user.pk == actor.pk:
        raise AccountRefused(_("You cannot deactivate your own account."))
    user.is_active = active
    user.save(update_fields=["is_active"])
    _record(actor, user, Action.REACTIVATED if active else Action.DEACTIVATED)
    return True


@transaction.atomic
def password_link(*, actor: Any, user: Any) -> tuple[str, str]:
    """(uidb64, token) of a one-time link to set the account's password."""
    _person(user)
    if not user.is_active:
        raise AccountRefused(_("The account is deactivated: reactivate it first."))
    _record(actor, user, Action.PASSWORD_LINK)
    return urlsafe_base64_encode(
        force_bytes(user.pk)
    ), default_token_generator.make_token(user)
