"""The forms of the pages that set a study up (managers)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from annotator.models import Campaign, Exam, TaxonomyVersion
from annotator.roles import Role
from annotator.services.campaigns import OPTIONS

MAX_ID_FILE = 10 * 1024 * 1024  # bytes of an uploaded exam-id list
MAX_LISTED = 10  # unknown ids named in a message


def people_with(role: str) -> Any:
    """Active accounts holding ``role`` (never machines), by username."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name=role)
        .exclude(groups__name=Role.MACHINE)
        .order_by("username")
        .distinct()
    )


class _People(forms.ModelMultipleChoiceField):
    def label_from_instance(self, user: Any) -> str:
        full = user.get_full_name()
        return f"{user.username} ({full})" if full else user.username


class NewCampaignForm(forms.Form):
    """A campaign: its exams (datasets, an id list or a sample), people, options.

    ``exam_ids()`` resolves the exams once the form is valid; ``preview()``
    says how many there are by dataset. The campaign's own rules (names,
    readers against readers per exam, adjudicators who read, classes) are the
    campaign service's: the page adds its refusals to the field they name.
    """

    SOURCES = [
        ("datasets", _("Every exam of the chosen datasets")),
        ("sample", _("A random sample of the chosen datasets")),
        ("ids", _("A list of exam ids")),
    ]

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    taxonomy = forms.ModelChoiceField(
        label=_("Taxonomy version"), queryset=TaxonomyVersion.objects.all()
    )
    source = forms.ChoiceField(
        label=_("Exams"), choices=SOURCES, initial="datasets", widget=forms.RadioSelect
    )
    datasets = forms.MultipleChoiceField(
        label=_("Datasets"), required=False, widget=forms.CheckboxSelectMultiple
    )
    sample_size = forms.IntegerField(
        label=_("Sample size"), required=False, min_value=1, max_value=10_000_000
    )
    sample_seed = forms.IntegerField(
        label=_("Seed"),
        required=False,
        initial=0,
        min_value=0,
        max_value=2**32 - 1,
        help_text=_("The same seed over the same exams gives the same sample."),
    )
    id_text = forms.CharField(
        label=_("Exam ids"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_(
            "One per line, or a CSV with an exam_id column (and a dataset column "
            "where ids repeat across datasets)."
        ),
    )
    id_file = forms.FileField(label=_("or upload the list"), required=False)
    readers = _People(
        label=_("Readers"),
        queryset=people_with(Role.READER),
        widget=forms.CheckboxSelectMultiple,
    )
    adjudicators = _People(
        label=_("Adjudicators"),
        queryset=people_with(Role.ADJUDICATOR),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    open_now = forms.BooleanField(
        label=_(
            "Open it for reading now (else it is a draft, opened from its dashboard)"
        ),
        required=False,
        initial=True,
    )
    readers_per_exam = forms.IntegerField(
        label=_("Readers per exam"), min_value=1, max_value=20, initial=2
    )
    show_machine_statements = forms.BooleanField(
        label=_("Readers see the machine's statements"), required=False
    )
    show_machine_measurements = forms.BooleanField(
        label=_("Readers see the machine's measurements"), required=False, initial=True
    )
    show_acquisition_date = forms.BooleanField(
        label=_("Readers see the day each exam was recorded"),
        required=False,
        initial=True,
    )
    show_machine_readings = forms.BooleanField(
        label=_("Adjudicators see the models' readings"), required=False
    )
    adjudication_policy = forms.ChoiceField(
        label=_("Adjudicate"),
        choices=[
            (Campaign.AdjudicationPolicy.ANY, _("every disagreement")),
            (Campaign.AdjudicationPolicy.CLASSES, _("disagreements on chosen classes")),
        ],
        initial=Campaign.AdjudicationPolicy.ANY,
        widget=forms.RadioSelect,
    )
    adjudication_codes = forms.MultipleChoiceField(
        label=_("Classes to adjudicate"), required=False
    )
    majority_vote = forms.BooleanField(
        label=_("With 3 or more readers, a majority settles a disagreement"),
        required=False,
    )
    lease_minutes = forms.IntegerField(
        label=_("Claim lease (minutes)"), min_value=1, max_value=7 * 24 * 60, initial=30
    )
    min_read_ms = forms.IntegerField(
        label=_("Flag reads faster than (ms)"), min_value=0, initial=2000
    )
    calibration_every = forms.IntegerField(
        label=_("A calibration exam every N claims (0: none)"), min_value=0, initial=0
    )
    reread_every = forms.IntegerField(
        label=_("A re-read every N claims (0: none)"), min_value=0, initial=0
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sizes = Exam.objects.dataset_sizes()
        self.fields["datasets"].choices = [
            (name, f"{name} ({n:,})") for name, n in self.sizes.items()
        ]
        taxonomy = self._taxonomy()
        if taxonomy is not None:
            self.fields["taxonomy"].initial = taxonomy.pk
            self.fields["adjudication_codes"].choices = [
                (cls.code, f"{cls.code} · {cls.name}") for cls in taxonomy.classes.all()
            ]
        self._ids: list[int] | None = None  # a sample's or a list's exams
        self._exams: Any = None
        self._by_dataset: dict[str, int] = {}

    def _taxonomy(self) -> TaxonomyVersion | None:
        """The chosen taxonomy version (as sent, before cleaning), or the newest."""
        chosen = self.data.get("taxonomy") if self.is_bound else None
        versions = TaxonomyVersion.objects.order_by("-pk")
        if chosen and str(chosen).isdigit():
            return versions.filter(pk=int(chosen)).first()
        return versions.first()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        source = data.get("source")
        datasets = data.get("datasets") or []
        if source in {"datasets", "sample"} and not datasets:
            self.add_error("datasets", _("Choose at least one dataset."))
        elif source == "sample":
            self._clean_sample(data, datasets)
        elif source == "datasets":
            self._exams = Exam.objects.filter(dataset__in=datasets)
            self._by_dataset = {name: self.sizes.get(name, 0) for name in datasets}
        elif source == "ids":
            self._clean_ids(data)
        if self._ids is not None:
            self._exams = Exam.objects.filter(pk__in=self._ids)
            self._by_dataset = self._exams.dataset_sizes()
        if self._exams is not None and not sum(self._by_dataset.values()):
            self.add_error("source", _("No exam is chosen."))
        return data

    def _clean_sample(self, data: dict[str, Any], datasets: list[str]) -> None:
        size = data.get("sample_size")
        if not size:
            self.add_error("sample_size", _("How many exams to sample."))
            return
        available = sum(self.sizes.get(name, 0) for name in datasets)
        if size > available:
            self.add_error(
                "sample_size",
                _("The chosen datasets hold %(n)s exams.") % {"n": f"{available:,}"},
            )
            return
        seed = data.get("sample_seed") or 0
        self._ids = Exam.objects.filter(dataset__in=datasets).sample_ids(
            size, seed=seed
        )

    def _clean_ids(self, data: dict[str, Any]) -> None:
        upload = data.get("id_file")
        text = data.get("id_text") or ""
        if upload is not None:
            if upload.size > MAX_ID_FILE:
                self.add_error(
                    "id_file",
                    _("The list is larger than %(mb)s MB.")
                    % {"mb": MAX_ID_FILE // 2**20},
                )
                return
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("id_file", _("The list is not UTF-8 text."))
                return
            # Kept in the text box, so a preview need not upload it again.
            self.data = self.data.copy()
            self.data["id_text"] = text
        wanted = _parse_ids(text)
        if not wanted:
            self.add_error("id_text", _("Give the exam ids, one per line."))
            return
        found: dict[tuple[str | None, str], int] = {}
        for dataset, exam_id, pk in Exam.objects.filter(
            exam_id__in={exam_id for _dataset, exam_id in wanted}
        ).values_list("dataset", "exam_id", "pk"):
            found[(dataset, exam_id)] = pk
            key = (None, exam_id)
            found[key] = -1 if key in found else pk  # -1: in several datasets
        ids, unknown, ambiguous = [], [], []
        for dataset, exam_id in wanted:
            pk = found.get((dataset, exam_id))
            if pk is None:
                unknown.append(exam_id)
            elif pk == -1:
                ambiguous.append(exam_id)
            else:
                ids.append(pk)
        if unknown or ambiguous:
            problems = []
            if unknown:
                problems.append(
                    ngettext(
                        "Unknown exam id: %(ids)s.",
                        "Unknown exam ids: %(ids)s.",
                        len(unknown),
                    )
                    % {"ids": _listed(unknown)}
                )
            if ambiguous:
                problems.append(
                    _("In several datasets (add a dataset column): %(ids)s.")
                    % {"ids": _listed(ambiguous)}
                )
            self.add_error("id_text", " ".join(problems))
            return
        self._ids = sorted(set(ids))

    def exams(self) -> Any:
        """The chosen exams, in id order (after ``is_valid``)."""
        return self._exams.order_by("pk")

    def preview(self) -> dict[str, Any]:
        """How many exams are chosen, by dataset."""
        return {"n": sum(self._by_dataset.values()), "by_dataset": self._by_dataset}

    def options(self) -> dict[str, Any]:
        """The campaign service's arguments from the cleaned form: its options
        (``services.campaigns.OPTIONS``) that the form asks for, and whether
        the campaign opens now or starts as a draft."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "readers": list(data["readers"]),
            "adjudicators": list(data["adjudicators"]),
            **{name: data[name] for name in OPTIONS if name in self.fields},
            "status": Campaign.Status.OPEN
            if data["open_now"]
            else Campaign.Status.DRAFT,
        }


def _listed(values: list[str]) -> str:
    shown = ", ".join(values[:MAX_LISTED])
    more = len(values) - MAX_LISTED
    return shown + (_(" and %(n)s more") % {"n": more} if more > 0 else "")


def _parse_ids(text: str) -> list[tuple[str | None, str]]:
    """(dataset or None, exam id) of each line, or of each row of a CSV with an
    exam_id column; blank lines skipped, order kept, repeats dropped."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    rows: list[tuple[str | None, str]] = []
    if "exam_id" in header:
        for row in csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=header):
            exam_id = (row.get("exam_id") or "").strip()
            if exam_id and exam_id != "exam_id":
                rows.append(((row.get("dataset") or "").strip() or None, exam_id))
    else:
        rows = [(None, line.strip()) for line in lines]
    return list(dict.fromkeys(rows))


class NewAccountForm(forms.Form):
    """A new account: its username, a full name and its roles."""

    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    roles = forms.MultipleChoiceField(
        label=_("Roles"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[
            (r.value, r.label) for r in (Role.READER, Role.ADJUDICATOR, Role.MANAGER)
        ],
        initial=[Role.READER],
    )
