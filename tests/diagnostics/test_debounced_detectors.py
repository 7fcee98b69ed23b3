"""Detectors after ingest, debounced: a burst of webhooks marks its conversations and publishes one
delayed run; the run claims the marks and examines every marked conversation (with a broker)."""

from __future__ import annotations

import pytest

from console import jobs
from console.celery import app
from diagnostics import actions
from diagnostics.models import Finding, PendingDetection
from diagnostics.tasks import run_pending_detectors

pytestmark = pytest.mark.django_db
RUN = "diagnostics.tasks.run_pending_detectors"


@pytest.fixture
def broker(monkeypatch, settings):
    """Tasks are published, not run eagerly; the published ones are recorded; the clock is ours."""
    settings.CONSOLE_DETECTOR_DEBOUNCE_SECONDS = 2
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    published = []
    monkeypatch.setattr(app.tasks[RUN], "apply_async", lambda **options: published.append(options))
    clock = {"now": 1000.0}
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(jobs, "_DEBOUNCED_RUN_STARTS", {})
    yield published, clock
    app.conf.task_always_eager = eager


def _duplicate_messages(scene, conversation_id: str, start: float) -> None:
    scene.start(conversation_id, seconds=start)
    scene.message(conversation_id, "m-1", seconds=start + 1, text="Is my order shipped?", idempotency_key="k-1")
    scene.message(conversation_id, "m-2", seconds=start + 3, text="Is my order shipped?", idempotency_key="k-2")


def test_it_publishes_one_delayed_run_for_a_burst_and_the_run_finds_every_fault(scene, broker):
    published, _ = broker
    _duplicate_messages(scene, "c-1", 0)
    _duplicate_messages(scene, "c-2", 5)

    assert published == [{"countdown": 2}]  # six webhooks, one run
    assert set(PendingDetection.objects.values_list("conversation_id", flat=True)) == {"c-1", "c-2"}
    assert not Finding.objects.exists()  # nothing ran yet

    stats = run_pending_detectors()
    assert stats["raised"] == 2
    assert set(Finding.objects.values_list("kind", "conversation_id")) == {
        ("duplicate_message", "c-1"),
        ("duplicate_message", "c-2"),
    }
    assert not PendingDetection.objects.exists()


def test_it_publishes_the_next_run_for_a_webhook_that_arrives_once_the_last_run_may_have_started(scene, broker):
    published, clock = broker
    scene.start("c-1", seconds=0)
    clock["now"] += 1.4  # the run starts at +2: a commit before +1.5 is certainly seen by it
    scene.message("c-1", "m-1", seconds=1)
    assert len(published) == 1
    clock["now"] += 0.2  # +1.6: too close to the run's start to rely on it
    scene.message("c-1", "m-2", seconds=2)
    assert published == [{"countdown": 2}, {"countdown": 2}]


def test_it_runs_right_after_the_commit_without_a_broker(scene, settings):
    settings.CONSOLE_DETECTOR_DEBOUNCE_SECONDS = 2
    _duplicate_messages(scene, "c-1", 0)  # eager, as in the embedded default
    assert Finding.objects.filter(kind="duplicate_message", conversation_id="c-1").exists()
    assert not PendingDetection.objects.exists()


def test_it_leaves_marks_of_a_running_claim_to_it(db):
    PendingDetection.objects.bulk_create([PendingDetection(conversation_id=f"c-{n}") for n in range(5)])
    assert actions.run_pending_detectors(limit=3)["subjects"] == 3
    assert PendingDetection.objects.count() == 2  # claimed oldest first, at most the limit
    assert actions.run_pending_detectors()["subjects"] == 2
    assert not PendingDetection.objects.exists()
