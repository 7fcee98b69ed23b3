from django.urls import path

from console.consumers import ConversationConsumer, HealthConsumer

websocket_urlpatterns = [
    path("ws/health/", HealthConsumer.as_asgi()),
    path("ws/conversations/<str:conversation_id>/", ConversationConsumer.as_asgi()),
]
