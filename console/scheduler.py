"""The embedded default's periodic tasks: an in-process scheduler the ASGI server starts.

Without REDIS_URL there is no beat and no worker, so the serving process runs the same periodic tasks
itself, eagerly, on the same periods: it reads the enabled entries of django-celery-beat's tables
(written by migration console/0003, editable in the admin), checks each with its Celery schedule, and
runs the due ones one after another in a background thread. Tasks another app has not installed are
skipped.

It starts only from the ASGI lifespan of the serving process (``make demo``: uvicorn), never in tests
or ``manage.py`` commands, and stops cleanly on Ctrl-C: the server's lifespan shutdown sets the stop
event and waits for the task in progress.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

log = logging.getLogger(__name__)

# How often the schedule is checked (the shortest default period is 15 s).
TICK_SECONDS = 1.0
# How often the entries are re-read, so a period changed in the admin applies without a restart.
RELOAD_SECONDS = 30.0


class EmbeddedScheduler:
    def __init__(self, *, tick: float = TICK_SECONDS, reload_every: float = RELOAD_SECONDS):
        self.tick = tick
        self.reload_every = reload_every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_run: dict[str, datetime] = {}
        self._entries: list = []
        self._loaded_at: datetime | None = None
        self.started_at = timezone.now()
        self.runs: deque[str] = deque(maxlen=1000)  # the latest tasks run, in order

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="embedded-scheduler", daemon=True)
        self._thread.start()
        log.info("embedded scheduler started (periodic tasks run in this process; no REDIS_URL)")

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("embedded scheduler: the running task did not finish within %.0f s", timeout)
            self._thread = None
        log.info("embedded scheduler stopped")

    def _run(self) -> None:
        from console.actions import ensure_periodic_tasks

        self.started_at = timezone.now()
        try:
            try:
                ensure_periodic_tasks()
            except Exception:
                log.exception("embedded scheduler: cannot check the periodic task entries")
            while not self._stop.is_set():
                self.run_due()
                close_old_connections()  # the thread's own connection, as a request does
                self._stop.wait(self.tick)
        finally:
            connections.close_all()

    def run_due(self) -> list[str]:
        """One pass: re-read the entries when it is time, run every due task; answers the tasks run."""
        now = timezone.now()
        if self._loaded_at is None or (now - self._loaded_at).total_seconds() >= self.reload_every:
            self._entries = self._load_entries()
            self._loaded_at = now
        ran = []
        for entry in self._entries:
            if self._stop.is_set():
                break
            if self._maybe_run(entry):
                ran.append(entry.task)
        return ran

    def _load_entries(self) -> list:
        from django_celery_beat.models import PeriodicTask

        try:
            entries = list(PeriodicTask.objects.filter(enabled=True).select_related("interval", "crontab", "solar"))
        except Exception:
            log.exception("embedded scheduler: cannot read the periodic tasks")
            return []
        return entries

    def _maybe_run(self, entry) -> bool:
        from console.celery import installed_task

        task = installed_task(entry.task)
        if task is None:
            return False
        try:
            schedule = entry.schedule
        except Exception:  # noqa: BLE001 - a malformed entry must not stop the others
            log.warning("embedded scheduler: entry %s has no usable schedule", entry.name)
            return False
        last_run = self._last_run.get(entry.name, self.started_at)
        due, _ = schedule.is_due(last_run)
        if not due:
            return False
        self._last_run[entry.name] = timezone.now()
        kwargs = _json_object(entry.kwargs)
        args = _json_list(entry.args)
        log.debug("embedded scheduler: running %s", entry.task)
        try:
            task.apply(args=args, kwargs=kwargs, throw=True)
        except Exception:
            log.exception("embedded scheduler: %s failed", entry.task)
        self.runs.append(entry.task)
        return True


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(text: str) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def embedded_scheduler_enabled() -> bool:
    return not settings.REDIS_URL and settings.CONSOLE_EMBEDDED_SCHEDULER


class LifespanScheduler:
    """ASGI wrapper: answers the server's lifespan events, starting and stopping the embedded scheduler.

    Every other scope goes to the wrapped application unchanged.
    """

    def __init__(self, app, scheduler_factory=EmbeddedScheduler):
        self.app = app
        self.scheduler_factory = scheduler_factory
        self.scheduler: EmbeddedScheduler | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if embedded_scheduler_enabled():
                    self.scheduler = self.scheduler_factory()
                    self.scheduler.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.scheduler is not None:
                    await sync_to_async(self.scheduler.stop, thread_sensitive=False)()
                    self.scheduler = None
                await send({"type": "lifespan.shutdown.complete"})
                return
