"""Machine readers: a model's predictions, stored next to the people's reads.

A machine is an account in the ``machine`` group that never logs in. Its
readings are ``MachineReading`` rows, never assignments: they take no slot of
the overlap, have no part in the consensus or the adjudication queue, and no
route a reader or adjudicator uses shows them. The agreement job counts a
machine as a reader (model against cardiologist kappa, scores against the
reference), marked as a machine. Each new or changed reading is a version in
the append-only history.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils.translation import gettext as _

from annotator.models import Campaign, Exam, MachineReading, Role
from annotator.roles import is_machine
from annotator.services import label_sets
from annotator.services.errors import WorkflowError
from annotator.services.label_sets import LabelSetSummary


def machine_account(name: str) -> AbstractBaseUser:
    """The machine account called ``name``, created (unable to log in) if new.

    Refused (WorkflowError) when ``name`` is a person's account: a model's
    predictions must never be mistaken for a reader's reads.
    """
    users = get_user_model().objects
    user = users.filter(username=name).first()
    if user is None:
        user = users.create_user(username=name)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get_or_create(name=Role.MACHINE)[0])
        return user
    if not is_machine(user):
        raise WorkflowError(
            _(
                "%(name)s is a person's account; a model's readings need a machine "
                "account of their own."
            )
            % {"name": name}
        )
    return user


@transaction.atomic
def record_machine_readings(
    *,
    campaign: Campaign,
    machine: AbstractBaseUser,
    labels: Iterable[tuple[Exam, Iterable[str]]],
    source: str = "import",
) -> LabelSetSummary:
    """Store a machine's (exam, labels) readings of the campaign; all or nothing.

    Labels are validated as a read's are; an exam outside the campaign is
    refused (NotFound), the same exam twice too; an unchanged reading writes
    nothing, a changed one becomes a new version.
    """
    if not is_machine(machine):
        raise WorkflowError(_("Only a machine account's readings are stored here."))
    wanted = label_sets.checked(campaign, labels)
    return label_sets.store(
        MachineReading.objects.filter(campaign=campaign, reader=machine),
        wanted,
        new=lambda **values: MachineReading.objects.create(
            campaign=campaign, reader=machine, **values
        ),
        actor=machine,
        source=source,
    )
