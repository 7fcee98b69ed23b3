"""The Celery app (docs/architecture.md, "Celery").

Production: Redis broker from REDIS_URL, ``celery -A console worker`` and ``celery -A console beat``;
beat reads its schedule from the database (django-celery-beat's DatabaseScheduler, set in settings),
so operators change periods in the Django admin under "Periodic tasks".

Embedded default (no REDIS_URL): tasks run eagerly in the process that enqueues them, and the
ASGI server runs the same periodic tasks from an in-process scheduler (console/scheduler.py).

Task defaults (settings): acks_late with reject_on_worker_lost, so a task whose worker dies is
delivered again; every task is idempotent (claims its rows with conditional UPDATEs), so a second
delivery is harmless. Soft and hard time limits bound every task.
"""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


def _survive_broker_loss_with_unacked_messages() -> None:
    """Keep a worker alive when Redis goes away while it holds unacknowledged messages (issue 10).

    celery 5.7 closes the consumer's connection after ``collect()`` has detached its transport; the
    Redis channel's close then restores the unacknowledged messages (a countdown task, e.g. the
    debounced detectors) through that transport, whose ``client`` is None, and raises AttributeError,
    which the worker treats as unrecoverable: it exits. Raising the connection error kombu expects
    there lets the consumer reconnect as it does for any broker loss; the messages stay in Redis's
    unacked set and are delivered again after the visibility timeout (tests/reliability/test_redis_outage.py).
    """
    from kombu.transport import redis as kombu_redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    connparams = kombu_redis.Channel._connparams
    if getattr(connparams, "console_guarded", False):
        return

    def guarded(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed")
        return connparams(self, asynchronous)

    guarded.console_guarded = True
    kombu_redis.Channel._connparams = guarded


_survive_broker_loss_with_unacked_messages()

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The periodic tasks and their default periods in seconds. Migration console/0003 writes them into
# django-celery-beat's tables (where operators may change them); the embedded scheduler reads the same
# tables. Tasks named here but not installed (another app's) are skipped by the embedded scheduler.
PERIODIC_TASKS = {
    "diagnostics.tasks.validate_liveness": 30,
    "conversations.tasks.expire_stale_sessions": 60,
    "conversations.tasks.force_close_retry": 30,
    "conversations.tasks.reconcile_with_platform": 5 * 60,
    "diagnostics.tasks.run_detectors": 5 * 60,
    "console.tasks.flush_deferred_jobs": 15,
    "console.tasks.purge_old_records": 24 * 60 * 60,
    "console.tasks.sample_socket_health": 30,
}


@beat_init.connect
def ensure_schedule(sender=None, **kwargs):
    """Beat starts: put back periodic task entries a flushed or restored database lost."""
    from console.actions import ensure_periodic_tasks

    ensure_periodic_tasks()


_discovered = False


def installed_task(name: str):
    """The registered task called ``name``, or None when no installed app defines it.

    A web process imports the task modules only when it first needs one (the worker imports them
    at start-up), so the first look-up triggers the autodiscovery.
    """
    global _discovered
    task = app.tasks.get(name)
    if task is None and not _discovered:
        _import_task_modules()
        _discovered = True
        task = app.tasks.get(name)
    return task


def _import_task_modules() -> None:
    """Import ``<app>.tasks`` of every installed Django app, as the worker's autodiscovery does (without
    the worker's start-up checks, which a web process has already run)."""
    import importlib
    import importlib.util

    from django.apps import apps

    for config in apps.get_app_configs():
        module = f"{config.name}.tasks"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
