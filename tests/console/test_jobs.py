"""console.jobs: follow-up work is enqueued after commit, and survives a broker outage in the database."""

from __future__ import annotations

import json
import logging
import time

import pytest
import redis
from django.db import transaction

from console import jobs
from console.models import DeferredJob
from conversations.models import Conversation, WebhookReceipt
from diagnostics.models import PendingDetection
from tests.conftest import require_service
from tests.console.broker import SHARED_REDIS, celery_broker, free_port, install_detectors_task, redis_answers
from tests.conversations.lifecycle import at, start_conversation
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def detectors_task():
    install_detectors_task()


def test_without_a_broker_the_task_runs_eagerly_after_the_commit(client, django_capture_on_commit_callbacks):
    start_conversation(client, "c-idle")
    Conversation.objects.filter(pk="c-idle").update(last_activity_at=at(-10_000))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        jobs.enqueue_on_commit("conversations.tasks.expire_stale_sessions")
        assert Conversation.objects.get(pk="c-idle").state == "pending"  # nothing before the commit
    assert callbacks
    assert Conversation.objects.get(pk="c-idle").state == "expired"


def test_a_rolled_back_change_enqueues_nothing(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        jobs.enqueue_on_commit("conversations.tasks.expire_stale_sessions")
        raise RuntimeError("rolled back")
    assert callbacks == []


def test_with_the_broker_down_jobs_are_deferred_quickly_and_identical_ones_kept_once():
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        started = time.monotonic()
        jobs.send("diagnostics.tasks.run_detectors", conversation_ids=["c-1"])
        first = time.monotonic() - started
        assert jobs.BREAKER.is_open()
        started = time.monotonic()
        jobs.send("diagnostics.tasks.run_detectors", conversation_ids=["c-1"])
        jobs.send("diagnostics.tasks.run_detectors", conversation_ids=["c-2"])
        rest = time.monotonic() - started
    assert first < 3.0, "publishing to a stopped Redis must fail fast"
    assert rest < 0.5, "with the breaker open the broker is not tried again"
    rows = list(DeferredJob.objects.order_by("pk").values_list("task_name", "kwargs"))
    assert rows == [
        ("diagnostics.tasks.run_detectors", {"conversation_ids": ["c-1"]}),
        ("diagnostics.tasks.run_detectors", {"conversation_ids": ["c-2"]}),
    ]
    assert "Connection refused" in DeferredJob.objects.first().last_error


def test_webhooks_are_answered_and_stored_while_the_broker_is_down(client, django_capture_on_commit_callbacks):
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"), django_capture_on_commit_callbacks(execute=True):
        for seq in range(1, 6):
            payload = event(
                f"evt-{seq}", "message.created", f"c-{seq % 2}", seq, {"messageId": f"m-{seq}", "direction": "inbound"}
            )
            response = post_native(client, payload)
            assert (response.status_code, response.json()["status"]) == (200, "applied")
    assert WebhookReceipt.objects.filter(outcome="applied").count() == 5
    # The detectors' follow-up: both conversations marked, one debounced run kept once while waiting.
    assert sorted(PendingDetection.objects.values_list("conversation_id", flat=True)) == ["c-0", "c-1"]
    assert [(job.task_name, job.kwargs) for job in DeferredJob.objects.all()] == [
        ("diagnostics.tasks.run_pending_detectors", {})
    ]


def test_a_flush_while_the_broker_is_still_down_releases_the_jobs():
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        jobs.defer("diagnostics.tasks.run_detectors", (), {"conversation_ids": ["c-1"]}, "down")
        jobs.defer("console.tasks.purge_old_records", (), {}, "down")
        assert jobs.flush_deferred() == {"published": 0, "left": 2}
    assert list(DeferredJob.objects.values_list("claimed_at", "attempts")) == [(None, 1), (None, 1)]


@pytest.mark.redis
def test_the_sweep_publishes_deferred_jobs_once_the_broker_answers():
    require_service("redis", redis_answers(SHARED_REDIS), SHARED_REDIS)
    queue = redis.Redis.from_url(SHARED_REDIS)
    queue.delete("celery")
    try:
        with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
            jobs.send("diagnostics.tasks.run_detectors", conversation_ids=["c-1"])
            jobs.send("conversations.tasks.expire_stale_sessions")
        assert DeferredJob.objects.count() == 2
        with celery_broker(SHARED_REDIS):
            assert jobs.flush_deferred() == {"published": 2, "left": 0}
        messages = [json.loads(message) for message in queue.lrange("celery", 0, -1)]
        assert sorted(message["headers"]["task"] for message in messages) == [
            "conversations.tasks.expire_stale_sessions",
            "diagnostics.tasks.run_detectors",
        ]
    finally:
        queue.delete("celery")


def test_a_task_no_installed_app_defines_is_dropped_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="console.jobs")
    with celery_broker(f"redis://127.0.0.1:{free_port()}/0"):
        jobs.send("nowhere.tasks.missing", 1)
        jobs.send("nowhere.tasks.missing", 2)
    assert not DeferredJob.objects.exists()
    assert [r.getMessage() for r in caplog.records if "nowhere.tasks.missing" in r.getMessage()] == [
        "task nowhere.tasks.missing is not installed in this build; its jobs are dropped"
    ]
