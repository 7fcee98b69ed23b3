"""The dashboard's socket counters are shared by every dashboard for CONSOLE_DASHBOARD_CACHE_SECONDS."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation, Participant

pytestmark = pytest.mark.django_db


def _open_conversation_with_widget(conversation_id: str, socket_state: str) -> None:
    now = timezone.now()
    conversation = Conversation.objects.create(
        id=conversation_id, state="active", first_event_at=now, last_activity_at=now
    )
    Participant.objects.create(
        conversation=conversation, participant_id=f"{conversation_id}-c", role="customer", socket_state=socket_state
    )


def test_it_shows_counters_at_most_the_cache_time_old(client, supervisor, settings):
    settings.CONSOLE_DASHBOARD_CACHE_SECONDS = 2
    cache.delete("console:dashboard-health")
    client.force_login(supervisor)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _open_conversation_with_widget("c-1", "silent")
        first = client.get(reverse("dashboard")).context["health"]
        assert first["counts"]["silent"] == 1 and first["open_conversations"] == 1

        _open_conversation_with_widget("c-2", "silent")
        assert client.get(reverse("dashboard-live")).context["health"] == first  # within the 2 s

        traveller.shift(timedelta(seconds=3))
        later = client.get(reverse("dashboard")).context["health"]
        assert later["counts"]["silent"] == 2 and later["open_conversations"] == 2


def test_it_recomputes_on_every_request_when_the_cache_is_off(client, supervisor, settings):
    settings.CONSOLE_DASHBOARD_CACHE_SECONDS = 0
    client.force_login(supervisor)
    _open_conversation_with_widget("c-1", "open")
    assert client.get(reverse("dashboard")).context["health"]["counts"]["open"] == 1
    _open_conversation_with_widget("c-2", "open")
    assert client.get(reverse("dashboard")).context["health"]["counts"]["open"] == 2
