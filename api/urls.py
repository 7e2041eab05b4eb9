"""API routes under /api/ (DESIGN §5), the OpenAPI schema and its docs."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api import job_views, reads, signal, views

router = DefaultRouter()
router.register("taxonomies", views.TaxonomyViewSet, basename="taxonomy")
router.register("exams", views.ExamViewSet, basename="exam")
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("decisions", views.DecisionViewSet, basename="decision")
router.register("jobs", job_views.JobViewSet, basename="job")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("health/", views.HealthView.as_view(), name="api-health"),
    *(
        path(f"campaigns/<int:pk>/{route}", view.as_view(), name=f"campaign-{name}")
        for route, view, name in [
            ("agreement/", job_views.AgreementJobView, "agreement"),
            ("exports/", job_views.ExportJobView, "exports"),
            ("report/", job_views.CampaignReportView, "report"),
            ("report/pairs/", job_views.CampaignReportPairsView, "report-pairs"),
            ("reads/", reads.CampaignReadsView, "reads"),
        ]
    ),
    path("exams/<int:pk>/signal/", signal.ExamSignalView.as_view(), name="exam-signal"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    path("", include(router.urls)),
]
