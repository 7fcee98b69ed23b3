"""Enqueue follow-up work after the transaction that makes it necessary commits — also while Redis is down.

Callers name tasks by their registered name (``"diagnostics.tasks.run_detectors"``) so an app never
imports another app's task module. A rolled-back transaction enqueues nothing. Without a broker
(embedded default) the task runs eagerly right after the commit.

Broker outage (docs/architecture.md, "Broker outage"): publishing fails fast (about 0.3 s, settings
CELERY_BROKER_CONNECTION_TIMEOUT and CELERY_TASK_PUBLISH_RETRY_POLICY); the job is then written to
the database as a ``DeferredJob`` and the process stops trying the broker for
CONSOLE_BROKER_RETRY_SECONDS, deferring straight away, so webhooks and telemetry keep answering at
database speed. The ``flush_deferred_jobs`` sweep (beat, every 15 s) publishes the deferred jobs
once Redis answers again; identical waiting jobs are stored once (every task is idempotent).

What is not covered here: a process killed between its commit and the publish. Every follow-up
the console enqueues is also reached by a periodic sweep over durable rows (run_detectors runs
periodically over everything, force_close_retry over open requests, expire_stale over open
conversations), so such a job is late, never lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

# A sweep that died mid-publish leaves its claim; after this long the jobs are published again.
STALE_CLAIM = timedelta(minutes=5)
FLUSH_BATCH = 500


class _Breaker:
    """Per process: after a failed publish, skip the broker for a few seconds (defer straight away)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open_until = 0.0

    def is_open(self) -> bool:
        with self._lock:
            return time.monotonic() < self._open_until

    def trip(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + settings.CONSOLE_BROKER_RETRY_SECONDS

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0


BREAKER = _Breaker()


def enqueue_on_commit(task_name: str, *args, **kwargs) -> None:
    transaction.on_commit(lambda: send(task_name, *args, **kwargs))


def send(task_name: str, *args, **kwargs) -> None:
    """Hand the job to the broker now; when it cannot take it, keep it in the database for later."""
    if not _installed(task_name):
        return
    if BREAKER.is_open():
        defer(task_name, args, kwargs, "broker unavailable (recent publish failed)")
        return
    try:
        publish(task_name, args, kwargs)
    except Exception as error:  # noqa: BLE001 - any broker failure: the job must not be lost
        BREAKER.trip()
        log.warning("could not enqueue %s (%s); deferred until the broker answers", task_name, error)
        defer(task_name, args, kwargs, f"{type(error).__name__}: {error}")


_missing_reported: set[str] = set()


def _installed(task_name: str):
    """The task, or None (logged once) when no installed app defines it: no worker could run it either."""
    from console.celery import installed_task

    task = installed_task(task_name)
    if task is None and task_name not in _missing_reported:
        _missing_reported.add(task_name)
        log.warning("task %s is not installed in this build; its jobs are dropped", task_name)
    return task


def publish(task_name: str, args, kwargs) -> None:
    """Publish one job (eagerly run it without a broker). Raises when the broker does not take it."""
    task = _installed(task_name)
    if task is not None:
        task.apply_async(args=list(args), kwargs=dict(kwargs))


def _digest(task_name: str, args, kwargs) -> str:
    canonical = json.dumps([task_name, list(args), kwargs], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def defer(task_name: str, args, kwargs, error: str = "") -> None:
    from console.models import DeferredJob

    job = DeferredJob(
        task_name=task_name,
        args=json.loads(json.dumps(list(args), default=str)),
        kwargs=json.loads(json.dumps(dict(kwargs), default=str)),
        digest=_digest(task_name, args, kwargs),
        last_error=error[:2000],
    )
    try:
        # An identical job already waiting (partial unique index on digest) makes this a no-op.
        DeferredJob.objects.bulk_create([job], ignore_conflicts=True)
    except DatabaseError:
        log.exception("could not defer %s: the follow-up is left to the periodic sweeps", task_name)


def flush_deferred(*, limit: int = FLUSH_BATCH) -> dict:
    """Publish deferred jobs, oldest first; answers counts. Stops at the first publish failure."""
    from console.models import DeferredJob

    now = timezone.now()
    token = uuid.uuid4().hex
    waiting = DeferredJob.objects.filter(Q(claimed_at=None) | Q(claimed_at__lt=now - STALE_CLAIM))
    ids = list(waiting.order_by("pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return {"published": 0, "left": 0}
    # Claim with a conditional UPDATE: a concurrent sweep claims other rows or none.
    waiting.filter(pk__in=ids).update(claimed_at=now, claim_token=token)
    published = 0
    jobs = list(DeferredJob.objects.filter(claim_token=token).order_by("pk"))
    for index, job in enumerate(jobs):
        try:
            publish(job.task_name, job.args, job.kwargs)
        except Exception as error:  # noqa: BLE001 - the broker is still down: release the rest and stop
            problem = f"{type(error).__name__}: {error}"
            for unpublished in jobs[index:]:
                _release(unpublished, problem)
            log.warning("flush of deferred jobs stopped: %s", problem)
            break
        job.delete()
        published += 1
    if published:
        BREAKER.reset()
        log.info("published %d deferred jobs", published)
    return {"published": published, "left": DeferredJob.objects.count()}


def _release(job, error: str) -> None:
    from console.models import DeferredJob

    try:
        with transaction.atomic():
            DeferredJob.objects.filter(pk=job.pk).update(
                claimed_at=None, claim_token="", attempts=job.attempts + 1, last_error=error[:2000]
            )
    except IntegrityError:
        # The same job was deferred again meanwhile: that waiting copy covers it.
        DeferredJob.objects.filter(pk=job.pk).delete()


def enqueue_debounced_on_commit(task_name: str, *, delay: float) -> None:
    """After the commit, make sure a run of the (argument-less) task starts within ``delay`` seconds.

    The commits of one process within ``delay`` share one run: the first publishes the task with
    that countdown; the later ones, committed before the run starts, publish nothing, since the run
    will see their rows. So the work the task looks for must be rows written in the committing
    transaction. A run that is lost (worker died) is followed by the next publish after ``delay``,
    and the periodic sweeps find the rest. While the broker is down the run is deferred like any job.
    """
    transaction.on_commit(lambda: send_debounced(task_name, delay=delay))


# Per process: when the run this process published last will start (time.monotonic()).
_DEBOUNCED_RUN_STARTS: dict[str, float] = {}
_DEBOUNCE_LOCK = threading.Lock()
# A commit this close to that start publishes another run (the worker's clock may run a little ahead).
DEBOUNCE_MARGIN_SECONDS = 0.5


def send_debounced(task_name: str, *, delay: float) -> None:
    from console.celery import app

    task = _installed(task_name)
    if task is None:
        return
    if app.conf.task_always_eager or delay <= DEBOUNCE_MARGIN_SECONDS or BREAKER.is_open():
        send(task_name)
        return
    now = time.monotonic()
    with _DEBOUNCE_LOCK:
        if now < _DEBOUNCED_RUN_STARTS.get(task_name, 0.0) - DEBOUNCE_MARGIN_SECONDS:
            return
        _DEBOUNCED_RUN_STARTS[task_name] = now + delay
    try:
        task.apply_async(countdown=delay)
    except Exception as error:  # noqa: BLE001 - as send(): the run must not be lost
        with _DEBOUNCE_LOCK:
            _DEBOUNCED_RUN_STARTS.pop(task_name, None)
        BREAKER.trip()
        log.warning("could not enqueue %s (%s); deferred until the broker answers", task_name, error)
        defer(task_name, (), {}, f"{type(error).__name__}: {error}")
