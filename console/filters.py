"""Query filters of the audit log (django-filter)."""

import django_filters

from console.models import AuditEntry


class AuditEntryFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(help_text="Dotted name, e.g. conversation.force_closed")
    actor = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()

    class Meta:
        model = AuditEntry
        fields = ["action", "actor", "target_type", "target_id"]
