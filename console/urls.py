from django.contrib import admin
from django.urls import include, path
from oauth2_provider import views as oauth2_views

from console import api as console_api
from console import health, views
from conversations import api as conversation_api
from conversations import views as conversation_views
from diagnostics import api as diagnostics_api
from diagnostics import views as diagnostics_views

handler404 = "console.problems.page_not_found"
handler500 = "console.problems.server_error"

api_v1 = [
    path("conversations/", conversation_api.ConversationList.as_view(), name="conversation-list"),
    path("conversations/<str:conversation_id>/", conversation_api.ConversationDetail.as_view(), name="conversation"),
    path(
        "conversations/<str:conversation_id>/messages/",
        conversation_api.MessageList.as_view(),
        name="conversation-messages",
    ),
    path(
        "conversations/<str:conversation_id>/participants/",
        conversation_api.ParticipantList.as_view(),
        name="conversation-participants",
    ),
    path(
        "conversations/<str:conversation_id>/handoffs/",
        conversation_api.HandoffList.as_view(),
        name="conversation-handoffs",
    ),
    path(
        "conversations/<str:conversation_id>/findings/",
        diagnostics_api.ConversationFindingList.as_view(),
        name="conversation-findings",
    ),
    path(
        "conversations/<str:conversation_id>/timeline/",
        conversation_api.Timeline.as_view(),
        name="conversation-timeline",
    ),
    path(
        "conversations/<str:conversation_id>/force-close/",
        conversation_api.ForceClose.as_view(),
        name="conversation-force-close",
    ),
    path("findings/", diagnostics_api.FindingList.as_view(), name="finding-list"),
    path("findings/<int:finding_id>/", diagnostics_api.FindingDetail.as_view(), name="finding"),
    path("findings/<int:finding_id>/resolve/", diagnostics_api.FindingResolve.as_view(), name="finding-resolve"),
    path("findings/<int:finding_id>/dismiss/", diagnostics_api.FindingDismiss.as_view(), name="finding-dismiss"),
    path("socket-health/", conversation_api.SocketHealth.as_view(), name="socket-health"),
    path("audit/", console_api.AuditList.as_view(), name="audit-list"),
    path("webhook-receipts/", conversation_api.WebhookReceiptList.as_view(), name="webhook-receipt-list"),
    path("webhook-receipts/<int:receipt_id>/", conversation_api.WebhookReceiptDetail.as_view(), name="webhook-receipt"),
    path(
        "webhook-receipts/<int:receipt_id>/replay/",
        conversation_api.WebhookReceiptReplay.as_view(),
        name="webhook-receipt-replay",
    ),
]

# OAuth2: only the client-credentials token endpoint and revocation (no authorization pages).
oauth2 = [
    path("token/", oauth2_views.TokenView.as_view(), name="token"),
    path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
]

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
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", console_api.SchemaView.as_view(), name="api-schema"),
    path("api/docs/", console_api.DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("o/", include((oauth2, "oauth2_provider"), namespace="oauth2_provider")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
