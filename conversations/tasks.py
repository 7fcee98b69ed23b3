"""Celery tasks of the mirror: thin and idempotent, each calls an action (docs/architecture.md, "Celery")."""

from __future__ import annotations

import logging

from celery import shared_task

from conversations import actions
from conversations.models import ForceCloseRequest

log = logging.getLogger(__name__)


@shared_task(soft_time_limit=110, time_limit=150)
def expire_stale_sessions(dry_run: bool = False) -> dict:
    """Every 60 s: pending/active conversations idle past their TTL become expired, one audit row each."""
    items = actions.expire_stale(dry_run=dry_run)
    return {
        "dryRun": dry_run,
        "expired": len(items),
        "conversationIds": [item["conversationId"] for item in items][:100],
    }


@shared_task(soft_time_limit=270, time_limit=290)
def reconcile_with_platform() -> dict:
    """Every 5 min: the platforms' view of open conversations wins; drift is corrected and reported."""
    return actions.reconcile_with_platform()


@shared_task(soft_time_limit=540, time_limit=570)
def force_close_retry(request_id: int | None = None) -> dict:
    """Retry force-close requests whose platform call failed or whose worker died mid-attempt.

    With ``request_id``: that request (if due). Without: every due request (beat, every 30 s).
    """
    ids = [request_id] if request_id is not None else actions.due_force_close_requests()
    statuses: dict[str, int] = {}
    for pk in ids:
        try:
            outcome = actions.attempt_force_close(pk)
        except ForceCloseRequest.DoesNotExist:
            log.warning("force_close_retry: request %s no longer exists", pk)
            continue
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    return statuses
