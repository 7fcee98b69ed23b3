from django.urls import path, re_path

from console.consumers import ConversationConsumer, HealthConsumer, refuse

websocket_urlpatterns = [
    path("ws/health/", HealthConsumer.as_asgi()),
    path("ws/conversations/<str:conversation_id>/", ConversationConsumer.as_asgi()),
    # Any other path is refused at the handshake (403) like a refused user, not an exception (500).
    re_path(r"", refuse),
]
