"""Cross-cutting Celery tasks: publishing jobs deferred during a broker outage, retention."""

from __future__ import annotations

from celery import shared_task

from console import actions, jobs


@shared_task(soft_time_limit=60, time_limit=90)
def flush_deferred_jobs() -> dict:
    """Every 15 s: hand the jobs deferred while Redis was down to the broker."""
    return jobs.flush_deferred()


@shared_task(soft_time_limit=1700, time_limit=1800)
def purge_old_records() -> dict:
    """Daily: delete receipts, beacons and closed findings older than their retention settings."""
    return actions.purge_old_records()


@shared_task(soft_time_limit=20, time_limit=30)
def sample_socket_health() -> dict:
    """Every 30 s: store the socket-health counters (the dashboard's chart) and push them live."""
    return actions.record_socket_health_sample().counts
