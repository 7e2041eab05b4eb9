"""API routes under /api/ (DESIGN §5), the OpenAPI schema and its docs."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from api import job_views, signal, views

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
    path(
        "campaigns/<int:pk>/agreement/",
        job_views.AgreementJobView.as_view(),
        name="campaign-agreement",
    ),
    path(
        "campaigns/<int:pk>/exports/",
        job_views.ExportJobView.as_view(),
        name="campaign-exports",
    ),
    path(
        "campaigns/<int:pk>/report/",
        job_views.CampaignReportView.as_view(),
        name="campaign-report",
    ),
    path(
        "campaigns/<int:pk>/report/pairs/",
        job_views.CampaignReportPairsView.as_view(),
        name="campaign-report-pairs",
    ),
    path("exams/<int:pk>/signal/", signal.ExamSignalView.as_view(), name="exam-signal"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    path("", include(router.urls)),
]
