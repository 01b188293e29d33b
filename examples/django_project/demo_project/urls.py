"""Routes; ``/quote`` and ``/limited`` use the async views under ASGI."""

from django.conf import settings
from django.urls import path

import pyresilience_django.views

from . import views

quote = views.aquote if settings.DEMO_ASYNC_VIEWS else views.quote
limited = views.alimited if settings.DEMO_ASYNC_VIEWS else views.limited

urlpatterns = [
    path("health", views.health),
    path("quote", quote),
    path("limited", limited),
    path("status", pyresilience_django.views.status),
    path("sync/quote", views.quote),
    path("sync/limited", views.limited),
    path("async/quote", views.aquote),
    path("async/limited", views.alimited),
]
