"""URLconf of the pyresilience_django tests."""

from __future__ import annotations

import djapp_views as views
from django.urls import path

import pyresilience_django.views

urlpatterns = [
    path("guarded", views.guarded),
    path("aguarded", views.aguarded),
    path("cbv", views.GuardedView.as_view()),
    path("cbv-method", views.MethodGuardedView.as_view()),
    path("open", views.raises_open),
    path("alimited", views.araises_limited),
    path("crash", views.crashes),
    path("status", pyresilience_django.views.status),
]
