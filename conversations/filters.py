"""Query filters of the conversation list (django-filter)."""

from __future__ import annotations

import django_filters
from django_filters.widgets import BooleanWidget

from conversations import queries
from conversations.models import Conversation, ConversationState, ReceiptOutcome, Source, WebhookReceipt


class ConversationFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ConversationState.choices)
    tenant = django_filters.CharFilter()
    queue = django_filters.CharFilter(field_name="queue_id", help_text="Current queue (routingData.queueId)")
    channel = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=Source.choices)
    has_open_findings = django_filters.BooleanFilter(
        widget=BooleanWidget,
        method="filter_has_open_findings",
        help_text="true: with at least one open finding; false: none",
    )
    stale = django_filters.BooleanFilter(
        widget=BooleanWidget,
        method="filter_stale",
        help_text="true: pending/active with no activity for longer than its TTL",
    )

    class Meta:
        model = Conversation
        fields = ["state", "tenant", "queue", "channel", "source", "has_open_findings", "stale"]

    def filter_has_open_findings(self, queryset, name, value):
        return queryset if value is None else queries.filter_has_open_findings(queryset, value)

    def filter_stale(self, queryset, name, value):
        return queryset if value is None else queries.filter_stale(queryset, value)


class WebhookReceiptFilter(django_filters.FilterSet):
    source = django_filters.ChoiceFilter(choices=Source.choices)
    outcome = django_filters.ChoiceFilter(choices=ReceiptOutcome.choices)
    conversation = django_filters.CharFilter(field_name="conversation_id", help_text="conversationId")
    event_id = django_filters.CharFilter()

    class Meta:
        model = WebhookReceipt
        fields = ["source", "outcome", "conversation", "event_id"]
