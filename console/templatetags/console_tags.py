"""Small presentation helpers for the supervisor pages."""

from __future__ import annotations

import json
from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def age(moment: datetime | None) -> str:
    """Compact elapsed time: 45s, 12m, 3h 5m, 2d 4h."""
    if not moment:
        return "-"
    seconds = int((timezone.now() - moment).total_seconds())
    return compact_duration(seconds)


@register.filter
def compact_duration(seconds: int | float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{sign}{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{sign}{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d {hours}h"


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def context_rows(context: dict, lost_keys=None) -> list[dict]:
    """routingData/customAttributes as rows: path, value, lost?"""
    lost = set(lost_keys or [])
    rows = []
    for section in ("routingData", "customAttributes"):
        for key, value in sorted(((context or {}).get(section) or {}).items()):
            path = f"{section}.{key}"
            rows.append({"path": path, "value": json.dumps(value, ensure_ascii=False), "lost": path in lost})
    return rows


@register.filter
def countdown(moment: datetime | None) -> str:
    """Server-side text of a TTL countdown (live.js keeps it ticking): '14m 05s' or 'past TTL by 3m 10s'."""
    if not moment:
        return "-"
    seconds = int((moment - timezone.now()).total_seconds())
    text = compact_duration(abs(seconds))
    return text if seconds >= 0 else f"past TTL by {text}"
