"""The periodic tasks: beat's database schedule, and the embedded default's in-process scheduler."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from console.celery import PERIODIC_TASKS
from console.scheduler import EmbeddedScheduler, LifespanScheduler
from conversations.models import Conversation
from tests.console.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_every_periodic_task_has_a_beat_entry_operators_can_change():
    entries = {task.name: task for task in PeriodicTask.objects.select_related("interval")}
    for name, seconds in PERIODIC_TASKS.items():
        assert entries[name].task == name
        assert (entries[name].interval.every, entries[name].interval.period) == (seconds, "seconds")
        assert entries[name].enabled
    assert entries["diagnostics.tasks.validate_liveness"].interval.every == 30
    assert entries["conversations.tasks.expire_stale_sessions"].interval.every == 60
    assert entries["conversations.tasks.reconcile_with_platform"].interval.every == 300
    assert entries["console.tasks.purge_old_records"].interval.every == 86400
    assert django_settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


def every(task: str, seconds: int) -> None:
    """Set a task's period (the entry is created again if a transactional test flushed the tables)."""
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.update_or_create(name=task, defaults={"task": task, "interval": interval, "enabled": True})


def idle_conversation(conversation_id: str) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    Conversation.objects.create(id=conversation_id, first_event_at=long_ago, last_activity_at=long_ago)


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_the_embedded_scheduler_runs_due_tasks_on_their_period_and_stops():
    every("conversations.tasks.expire_stale_sessions", 1)
    idle_conversation("c-idle")
    scheduler = EmbeddedScheduler(tick=0.05)
    scheduler.start()
    try:
        assert wait_until(lambda: Conversation.objects.get(pk="c-idle").state == "expired")
        idle_conversation("c-idle-2")
        assert wait_until(lambda: Conversation.objects.get(pk="c-idle-2").state == "expired")
    finally:
        scheduler.stop(timeout=10)
    assert not scheduler.running
    assert scheduler.runs.count("conversations.tasks.expire_stale_sessions") >= 2
    # Tasks of apps that are not installed in this build are skipped, not failed.
    assert "diagnostics.tasks.validate_liveness" not in scheduler.runs


@pytest.mark.django_db
def test_each_task_runs_once_per_period_and_a_disabled_one_not_at_all():
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    PeriodicTask.objects.filter(name="console.tasks.flush_deferred_jobs").update(enabled=False)
    with time_machine.travel(start, tick=False):
        scheduler = EmbeddedScheduler()
        assert scheduler.run_due() == []
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert sorted(scheduler.run_due()) == [
            "console.tasks.sample_socket_health",
            "conversations.tasks.force_close_retry",
            "diagnostics.tasks.validate_liveness",
        ]
        assert scheduler.run_due() == []
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert sorted(scheduler.run_due()) == [
            "console.tasks.sample_socket_health",
            "conversations.tasks.expire_stale_sessions",
            "conversations.tasks.force_close_retry",
            "diagnostics.tasks.validate_liveness",
        ]
    assert "console.tasks.flush_deferred_jobs" not in scheduler.runs


class FakeScheduler:
    instances: list[FakeScheduler] = []

    def __init__(self):
        self.started = self.stopped = False
        FakeScheduler.instances.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True


def lifespan(app) -> list[dict]:
    sent: list[dict] = []
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    return sent


def test_the_lifespan_starts_and_stops_the_scheduler_only_without_redis(settings):
    FakeScheduler.instances.clear()
    settings.REDIS_URL = ""
    sent = lifespan(LifespanScheduler(None, scheduler_factory=FakeScheduler))
    assert [message["type"] for message in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert [(s.started, s.stopped) for s in FakeScheduler.instances] == [(True, True)]
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"  # production: beat runs the schedule
    lifespan(LifespanScheduler(None, scheduler_factory=FakeScheduler))
    assert len(FakeScheduler.instances) == 1


def test_other_scopes_go_to_the_application():
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(LifespanScheduler(inner)({"type": "http"}, None, None))
    assert seen == ["http"]


@pytest.mark.slow
def test_the_asgi_server_runs_the_schedule_and_stops_cleanly_on_ctrl_c(tmp_path):
    """make demo's server: periodic tasks run in the process with no broker; Ctrl-C stops it cleanly."""
    database = tmp_path / "demo.sqlite3"
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        SECRET_KEY="test-only-secret-key-for-the-embedded-server-0123456789",
        CONSOLE_ENV_FILE="/nonexistent",
        CONSOLE_VAR_DIR=str(tmp_path),
        LOG_LEVEL="INFO",
    )
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    with sqlite3.connect(database) as db:
        db.execute("INSERT OR IGNORE INTO django_celery_beat_intervalschedule (every, period) VALUES (1, 'seconds')")
        (interval_id,) = db.execute(
            "SELECT id FROM django_celery_beat_intervalschedule WHERE every = 1 AND period = 'seconds'"
        ).fetchone()
        db.execute(
            "UPDATE django_celery_beat_periodictask SET interval_id = ? WHERE name = ?",
            (interval_id, "conversations.tasks.expire_stale_sessions"),
        )
        long_ago = "2026-01-01 10:00:00"
        db.execute(
            "INSERT INTO conversations_conversation (id, source, tenant, channel, state, queue_id, routing_data, "
            "custom_attributes, customer_key, first_event_at, last_activity_at, close_reason, versions, created_at, "
            "updated_at) VALUES ('c-demo', 'native', '', '', 'active', '', '{}', '{}', '', ?, ?, '', '{}', ?, ?)",
            (long_ago, long_ago, long_ago, long_ago),
        )
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "console.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def expired() -> bool:
            with sqlite3.connect(database) as db:
                row = db.execute("SELECT state FROM conversations_conversation WHERE id = 'c-demo'").fetchone()
            return row == ("expired",)

        assert wait_until(expired, timeout=30), log_path.read_text()
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    output = log_path.read_text()
    assert "embedded scheduler started" in output
    assert "embedded scheduler stopped" in output
    assert "Traceback" not in output


@pytest.mark.django_db
def test_admins_change_periods_in_the_admin_and_supervisors_only_see_them(client, admin_user, supervisor):
    task = PeriodicTask.objects.get(name="conversations.tasks.expire_stale_sessions")
    url = f"/admin/django_celery_beat/periodictask/{task.pk}/change/"
    client.force_login(supervisor)
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    client.force_login(admin_user)
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' in page.content.decode()
    assert admin_user.has_perm("django_celery_beat.change_intervalschedule")


@pytest.mark.django_db
def test_entries_a_flushed_database_lost_are_put_back_and_changed_ones_kept():
    from console.actions import ensure_periodic_tasks

    every("conversations.tasks.expire_stale_sessions", 120)  # an operator's change
    PeriodicTask.objects.exclude(name="conversations.tasks.expire_stale_sessions").delete()
    created = ensure_periodic_tasks()
    assert sorted(created) == sorted(set(PERIODIC_TASKS) - {"conversations.tasks.expire_stale_sessions"})
    entries = {task.name: task.interval.every for task in PeriodicTask.objects.select_related("interval")}
    assert entries["conversations.tasks.expire_stale_sessions"] == 120
    assert entries["console.tasks.flush_deferred_jobs"] == 15
    assert ensure_periodic_tasks() == []
