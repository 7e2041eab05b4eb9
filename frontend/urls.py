"""Browser page routes."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import imports, pages, people, study, views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("read/<int:pk>/", pages.read, name="read"),
    path("read/<int:pk>/mine/", pages.my_reads, name="my-reads"),
    path("adjudicate/<int:pk>/", pages.adjudicate, name="adjudicate"),
    path("campaigns/new/", study.new_campaign, name="new-campaign"),
    path("people/", people.people, name="people"),
    path("imports/", imports.imports, name="imports"),
    path("set-password/<uidb64>/<token>/", people.set_password, name="set-password"),
    path("set-password/done/", people.set_password_done, name="set-password-done"),
    path("campaigns/<int:pk>/", pages.dashboard, name="dashboard"),
    path("jobs/", pages.jobs, name="jobs"),
    path("exams/", pages.exams, name="exams"),
    path("vendor/plotly-<str:version>.min.js", pages.plotly_js, name="plotly-js"),
]
