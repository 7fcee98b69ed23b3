"""Against real Redis and real celery worker/beat processes (PostgreSQL, as in production):

* a worker SIGKILLed in the middle of a force-close: after a restart the conversation is closed once,
  with one success audit row and no second close call to the platform;
* a worker SIGKILLed in the middle of an expiry sweep (one TTL group committed, the next one updated but
  not committed): the task is delivered again to a new worker, and each conversation is expired once,
  with one audit row and one console event;
* Redis stopped: webhooks are still answered 200 and stored; once Redis is back their follow-up
  work runs (deferred jobs published by beat's flush_deferred_jobs, run by the worker);
* beat expires a conversation left idle past its TTL on its own.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import AuditEntry, DeferredJob
from conversations.actions import force_close
from conversations.models import Conversation, ForceCloseRequest, WebhookReceipt
from conversations.tasks import expire_stale_sessions, force_close_retry
from diagnostics.models import PendingDetection
from tests.console.broker import celery_broker, install_detectors_task
from tests.conversations.lifecycle import start_conversation
from tests.reliability.processes import (
    CeleryServices,
    FakePlatform,
    console_env,
    database_url_for_children,
    expiry_facts,
    read_json_lines,
    schedule_every_second,
    wait_until,
)
from tests.webhooks import event, post_native

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# Short lease and visibility timeout so that a killed worker's task comes back within seconds.
LEASE_SECONDS = 3
VISIBILITY_SECONDS = 5


@pytest.fixture
def platform():
    fake = FakePlatform()
    yield fake
    fake.shutdown()


@pytest.fixture
def services(transactional_db, redis_server, platform, tmp_path, settings):
    """Starts workers and beat against the test database and the private Redis; kills them all at the end."""
    install_detectors_task()
    settings.NATIVE_PLATFORM_URL = platform.url
    settings.CONSOLE_FORCE_CLOSE_RETRY_SECONDS = 1
    settings.CONSOLE_FORCE_CLOSE_LEASE_SECONDS = LEASE_SECONDS
    env = console_env(
        database_url_for_children(),
        redis_server.url,
        NATIVE_PLATFORM_URL=platform.url,
        CONSOLE_FORCE_CLOSE_LEASE_SECONDS=str(LEASE_SECONDS),
        CONSOLE_FORCE_CLOSE_RETRY_SECONDS="1",
        CELERY_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY_SECONDS),
        PLATFORM_MAX_ATTEMPTS="1",
    )
    started = CeleryServices(env, tmp_path)
    try:
        with celery_broker(redis_server.url):
            yield started
    finally:
        started.stop_all()


def test_a_worker_killed_mid_force_close_closes_the_conversation_once(client, services, platform, admin_user):
    worker = services.worker()
    start_conversation(client, "c-kill", active=True)
    platform.states["c-kill"] = "active"
    platform.close_mode = "fail"
    outcome = force_close("c-kill", reason="ghost session", actor="user:ada-admin", actor_user=admin_user)
    assert outcome.status == "pending"
    failed_calls = len(platform.close_calls)
    request = ForceCloseRequest.objects.get()
    platform.close_mode = "hang"
    wait_until(lambda: timezone.now() >= ForceCloseRequest.objects.get().next_attempt_at, 10, "the retry to be due")
    force_close_retry.apply_async(kwargs={"request_id": request.pk})
    assert platform.close_arrived.wait(30), worker.output()[-3000:]
    worker.kill()  # SIGKILL the whole worker in the middle of the platform call
    platform.release.set()
    request.refresh_from_db()
    assert request.status == "in_flight"
    assert Conversation.objects.get(pk="c-kill").state == "active"
    assert not AuditEntry.objects.filter(action="conversation.force_closed").exists()

    services.worker()

    def retried():
        return any(
            record["task"] == "conversations.tasks.force_close_retry" and record["state"] == "SUCCESS"
            for record in services.probed()
        )

    wait_until(retried, 60, "the restarted worker to finish the redelivered force_close_retry")
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("succeeded", 3)
    assert len(platform.close_calls) == failed_calls + 1  # the killed attempt's call only: no second close
    assert platform.get_calls.count("c-kill") >= 1  # the take-over asked the platform first
    audits = AuditEntry.objects.filter(action="conversation.force_closed")
    assert audits.count() == 1
    assert "closed on the platform already" in audits.get().after["platformCall"]
    conversation = Conversation.objects.get(pk="c-kill")
    assert conversation.close_reason == "force_closed"
    assert WebhookReceipt.objects.filter(source="console", conversation_id="c-kill").count() == 1


def test_webhooks_during_a_redis_outage_are_stored_and_their_follow_up_runs_after_it(client, services, redis_server):
    schedule_every_second("console.tasks.flush_deferred_jobs", "conversations.tasks.expire_stale_sessions")
    services.worker()
    services.beat()

    # Done-when: a conversation left idle past its TTL is expired by beat on its own.
    long_ago = timezone.now() - timedelta(hours=2)
    Conversation.objects.create(id="c-idle", state="active", first_event_at=long_ago, last_activity_at=long_ago)
    wait_until(lambda: Conversation.objects.get(pk="c-idle").state == "expired", 30, "beat to expire c-idle")
    assert AuditEntry.objects.get(action="conversation.expired", target_id="c-idle").actor == (
        "system:conversations.tasks.expire_stale_sessions"
    )

    redis_server.stop()
    for seq in range(1, 7):
        conversation_id = f"c-out-{seq % 2}"
        payload = event(
            f"out-{seq}", "message.created", conversation_id, seq, {"messageId": f"m-{seq}", "direction": "inbound"}
        )
        response = post_native(client, payload)
        assert (response.status_code, response.json()["status"]) == (200, "applied")
    assert WebhookReceipt.objects.filter(event_id__startswith="out-", outcome="applied").count() == 6
    # The detectors' follow-up is one debounced run over the marked conversations: deferred once.
    assert set(PendingDetection.objects.values_list("conversation_id", flat=True)) == {"c-out-0", "c-out-1"}
    assert list(DeferredJob.objects.values_list("task_name", flat=True)) == ["diagnostics.tasks.run_pending_detectors"]

    redis_server.start()

    def follow_ups_ran():
        return any(
            record["task"] == "diagnostics.tasks.run_pending_detectors" and record["state"] == "SUCCESS"
            for record in services.probed()
        )

    wait_until(follow_ups_ran, 60, "the deferred follow-up to run after Redis came back")
    wait_until(lambda: not PendingDetection.objects.exists(), 10, "the detectors to examine c-out-0 and c-out-1")
    wait_until(lambda: not DeferredJob.objects.exists(), 10, "the deferred jobs to be gone")


def idle_conversations(prefix: str, ttls: list[int | None], per_ttl: int, idle_for: timedelta) -> list[str]:
    """Open conversations idle for ``idle_for``, ``per_ttl`` of each TTL (None: the default TTL)."""
    since = timezone.now() - idle_for
    rows = [
        Conversation(
            id=f"{prefix}-{ttl or 'default'}-{n}",
            state="active" if n % 2 else "pending",
            first_event_at=since,
            last_activity_at=since,
            ttl_seconds=ttl,
        )
        for ttl in ttls
        for n in range(per_ttl)
    ]
    Conversation.objects.bulk_create(rows)
    return [row.id for row in rows]


def test_a_worker_killed_mid_expiry_sweep_expires_each_conversation_once(services, tmp_path):
    # Three TTL groups: the sweep runs one statement per TTL (60 s, 120 s, then the default), each in its
    # own transaction. The probe stops the first worker after the second statement ran, before its commit.
    per_ttl = 150
    idle = idle_conversations("c-exp", [60, 120, None], per_ttl, timedelta(hours=2))
    fresh = idle_conversations("c-fresh", [None], 3, timedelta(seconds=10))
    sweep_log = tmp_path / "sweep.jsonl"
    probe = {"CONSOLE_TEST_SWEEP_LOG": str(sweep_log)}
    worker = services.worker(
        include=("tests.reliability.sweep_probe",), env={**probe, "CONSOLE_TEST_SWEEP_HANG_AT": "2"}
    )
    expire_stale_sessions.apply_async()

    def hanging() -> bool:
        return any(record["event"] == "hanging" for record in read_json_lines(sweep_log))

    wait_until(hanging, 30, "the sweep to stop inside its second TTL group")
    # Mid-run: the 60 s group is committed; the 120 s group is updated but not committed; the default not begun.
    assert Conversation.objects.filter(state="expired").count() == per_ttl
    assert [r["rows"] for r in read_json_lines(sweep_log) if r["event"] == "end"] == [per_ttl, per_ttl]
    worker.kill()  # SIGKILL in the middle of the sweep: PostgreSQL rolls the open transaction back
    first_run = expiry_facts(idle)
    assert sum(first_run["audits"].values()) == per_ttl
    assert all(first_run["states"][cid] == "expired" for cid in idle[:per_ttl])
    assert all(first_run["states"][cid] != "expired" for cid in idle[per_ttl:])

    services.worker(include=("tests.reliability.sweep_probe",), env=probe)

    def redelivered() -> bool:
        return any(
            record["task"] == "conversations.tasks.expire_stale_sessions" and record["state"] == "SUCCESS"
            for record in services.probed()
        )

    wait_until(redelivered, 60, "the redelivered expire_stale_sessions to finish on the new worker")
    facts = expiry_facts(idle + fresh)
    assert {cid: facts["states"][cid] for cid in idle} == dict.fromkeys(idle, "expired")
    assert not any(facts["states"][cid] == "expired" for cid in fresh)
    # Each conversation expired once: one audit row and one console event each, none for the fresh ones.
    assert facts["audits"] == dict.fromkeys(idle, 1)
    assert facts["events"] == dict.fromkeys(idle, 1)
    # The redelivered sweep redid only what the killed one had not committed (no open conversation has
    # the 60 s TTL any more: that group is not even visited).
    second = [r["rows"] for r in read_json_lines(sweep_log) if r["event"] == "end"][2:]
    assert second == [per_ttl, per_ttl], second
