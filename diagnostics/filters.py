"""Query filters of the findings list (django-filter)."""

from __future__ import annotations

import django_filters

from diagnostics.models import Finding, FindingKind, FindingStatus, Severity


class FindingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=FindingStatus.choices)
    kind = django_filters.ChoiceFilter(choices=FindingKind.choices)
    severity = django_filters.ChoiceFilter(choices=Severity.choices)
    conversation = django_filters.CharFilter(field_name="conversation_id", help_text="conversationId")
    session_key = django_filters.CharFilter()

    class Meta:
        model = Finding
        fields = ["status", "kind", "severity", "conversation", "session_key"]
