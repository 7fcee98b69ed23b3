from django.contrib import admin
from django.urls import path

from console import health
from conversations import views as conversation_views
from diagnostics import views as diagnostics_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("webhooks/<str:source>/", conversation_views.webhook, name="webhook"),
    path("telemetry/", diagnostics_views.telemetry, name="telemetry"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
