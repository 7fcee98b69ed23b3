from django.contrib import admin
from django.urls import path

from console import health, views
from conversations import views as conversation_views
from diagnostics import views as diagnostics_views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("live/dashboard/", views.dashboard_live, name="dashboard-live"),
    path("live/socket-chart/", views.socket_chart, name="socket-chart"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("conversations/", views.conversation_list, name="conversations"),
    path("conversations/<str:conversation_id>/", views.conversation_detail, name="conversation"),
    path("conversations/<str:conversation_id>/live/", views.conversation_live, name="conversation-live"),
    path("findings/", views.finding_list, name="findings"),
    path("findings/<int:pk>/resolve/", views.finding_close, {"status": "resolved"}, name="finding-resolve"),
    path("findings/<int:pk>/dismiss/", views.finding_close, {"status": "dismissed"}, name="finding-dismiss"),
    path("receipts/", views.receipt_list, name="receipts"),
    path("audit/", views.audit_list, name="audit"),
    path("admin/", admin.site.urls),
    path("webhooks/<str:source>/", conversation_views.webhook, name="webhook"),
    path("telemetry/", diagnostics_views.telemetry, name="telemetry"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
