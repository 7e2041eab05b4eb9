"""Django admin for managers: exams, taxonomies, campaigns, reads and jobs.

Label history is read-only here as everywhere; patient links are visible only
to users with the explicit ``view_patientlink`` permission (managers).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from annotator import exports, services
from annotator.models import (
    Adjudication,
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    DiagnosticClass,
    Exam,
    Job,
    LabelRevision,
    PatientLink,
    TaxonomyVersion,
)
from annotator.taxonomy import COLUMNS


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that change only through the workflow services, never by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Exam)
class ExamAdmin(ReadOnlyAdmin):
    """Exams come from ``import_exams`` only (a signal must exist for each)."""

    list_display = [
        "exam_id",
        "dataset",
        "patient_pseudonym",
        "export_pseudonym",
        "age_shown",
        "sex",
        "sampling_rate",
        "n_samples",
        "source_format",
        "imported_at",
    ]
    list_filter = ["dataset", "source_format", "sex"]
    search_fields = ["exam_id", "patient_pseudonym"]
    # The stored age reads "90" at the cap; the exam's page shows "90+" instead.
    exclude = ["age"]
    readonly_fields = ["age_shown"]

    @admin.display(description=_("Age"), ordering="age")
    def age_shown(self, exam: Exam) -> str:
        """The age as every page shows it ("90+" at the cap)."""
        return exam.age_text or self.get_empty_value_display()

    @admin.display(description=_("Pseudonym in shared exports"))
    def export_pseudonym(self, exam: Exam) -> str:
        """The mapping back from a pseudonymous export (``--pseudonymous``)."""
        return exports.exam_pseudonym(exam.dataset, exam.exam_id)


class FindPatientForm(forms.Form):
    source_patient_id = forms.CharField(label=_("Source patient id"), max_length=200)
    dataset = forms.CharField(label=_("Dataset"), max_length=100, required=False)


@admin.register(PatientLink)
class PatientLinkAdmin(ReadOnlyAdmin):
    """Patient links. The list searches pseudonyms only: a source patient id is
    looked up by POST (``find/``), so it never appears in a URL or a log."""

    list_display = ["pseudonym", "dataset", "source_patient_id", "created_at"]
    search_fields = ["pseudonym"]

    def get_urls(self) -> list[Any]:
        find = path(
            "find/",
            self.admin_site.admin_view(self.find_view),
            name="annotator_patientlink_find",
        )
        return [find, *super().get_urls()]

    def find_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = FindPatientForm(request.POST or None)
        not_found = False
        if request.method == "POST" and form.is_valid():
            links = PatientLink.objects.filter(
                source_patient_id=form.cleaned_data["source_patient_id"]
            )
            if form.cleaned_data["dataset"]:
                links = links.filter(dataset=form.cleaned_data["dataset"])
            link = links.order_by("pk").first()
            if link is not None:
                return redirect("admin:annotator_patientlink_change", link.pk)
            not_found = True
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "not_found": not_found,
        }
        return TemplateResponse(
            request, "admin/annotator/patientlink/find.html", context
        )


class DiagnosticClassInline(admin.TabularInline):
    model = DiagnosticClass
    # The taxonomy file's columns, in its order; definitions are too long here.
    fields = ["display_order", *(c for c in COLUMNS if c != "definition")]
    extra = 0

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or not obj.is_frozen

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


@admin.register(TaxonomyVersion)
class TaxonomyVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "frozen_at", "created_at"]
    inlines = [DiagnosticClassInline]
    readonly_fields = ["frozen_at"]


class CampaignForm(forms.ModelForm):
    """Campaign fields, its readers, and the datasets whose exams it covers.

    The rules are the services': ``Campaign.clean()`` runs with the model's
    validation, and ``services.check_campaign`` right after, so a refusal is
    shown next to its field and nothing is saved.
    """

    readers = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=FilteredSelectMultiple(_("readers"), is_stacked=False),
    )
    add_datasets = forms.MultipleChoiceField(
        required=False,
        help_text=_("Every exam of these datasets joins the campaign on save."),
    )

    class Meta:
        model = Campaign
        fields = ["name", "adjudicators", *services.campaigns.OPTIONS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        datasets = Exam.objects.order_by().values_list("dataset", flat=True).distinct()
        self.fields["add_datasets"].choices = [(d, d) for d in sorted(datasets)]
        if self.instance.pk is not None:
            self.fields["readers"].initial = list(self.instance.readers.all())

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        try:
            services.check_campaign(
                self.instance,
                readers=list(self.cleaned_data.get("readers") or []),
                adjudicators=list(self.cleaned_data.get("adjudicators") or []),
            )
        except services.CampaignRefused as refusal:
            field = refusal.field if refusal.field in self.fields else None
            self.add_error(field, str(refusal))


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """Campaigns are created and changed by the campaign services, as elsewhere."""

    form = CampaignForm
    list_display = [
        "name",
        "taxonomy",
        "readers_per_exam",
        "adjudication_policy",
        "n_exams",
        "n_reads_submitted",
        "created_at",
    ]
    filter_horizontal = ["adjudicators"]
    search_fields = ["name"]

    def save_model(
        self, request: HttpRequest, obj: Campaign, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        options = {
            field: data[field]
            for field in services.campaigns.OPTIONS
            if field not in {"taxonomy", "readers_per_exam"}
        }
        people = {
            "readers": list(data["readers"]),
            "adjudicators": list(data["adjudicators"]),
        }
        if change:
            changed = {
                field: data[field]
                for field in form.changed_data
                if field in CampaignForm.Meta.fields and field != "adjudicators"
            }
            campaign = services.change_campaign(
                campaign=Campaign.objects.get(pk=obj.pk), **people, **changed
            )
        else:
            campaign = services.create_campaign(
                name=data["name"],
                taxonomy=data["taxonomy"],
                readers_per_exam=data["readers_per_exam"],
                exams=Exam.objects.none(),
                created_by=request.user,
                **people,
                **options,
            )
            obj.pk = campaign.pk
        datasets = data.get("add_datasets") or []
        if datasets:
            added = services.add_exams(
                campaign=campaign,
                exams=Exam.objects.filter(dataset__in=datasets).order_by("pk"),
            )
            self.message_user(
                request,
                _("%(n)d exams added to the campaign.") % {"n": added},
            )
        obj.refresh_from_db()

    def save_related(
        self, request: HttpRequest, form: Any, formsets: Any, change: bool
    ) -> None:
        """Readers and adjudicators were saved by the service, with its checks."""


@admin.register(CampaignExam)
class CampaignExamAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "exam", "n_assigned", "n_submitted", "consensus_state"]
    list_filter = ["campaign", "consensus_state"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = [
        "campaign",
        "exam",
        "reader",
        "status",
        "claimed_at",
        "lease_expires_at",
        "submitted_at",
    ]
    list_filter = ["campaign", "status"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ["assignment", "labels", "quality", "version", "updated_at"]


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    list_display = [
        "campaign",
        "exam",
        "adjudicator",
        "labels",
        "version",
        "updated_at",
    ]


@admin.register(LabelRevision)
class LabelRevisionAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "campaign",
        "exam",
        "actor",
        "version",
        "old_labels",
        "new_labels",
        "source",
    ]
    list_filter = ["kind", "campaign"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "campaign",
        "status",
        "progress",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["kind", "status"]
