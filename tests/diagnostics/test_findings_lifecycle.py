"""Findings over time: one open per kind and subject, re-runs change nothing, closed ones stay closed
for the same facts, live pushes after the commit, and the liveness task's clock-driven checks."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from console.events import HEALTH_GROUP, conversation_group
from console.models import AuditEntry
from conversations.models import Participant
from diagnostics import actions
from diagnostics.models import Finding
from diagnostics.tasks import run_detectors, validate_liveness
from tests.diagnostics.test_detectors import active

pytestmark = pytest.mark.django_db


def duplicate_pair(scene, *, first="m-1", second="m-2", at=10):
    scene.message("c-1", first, seconds=at, text="help", idempotency_key=f"k-{first}")
    scene.message("c-1", second, seconds=at + 2, text="help", idempotency_key=f"k-{second}")


def test_it_changes_nothing_when_detectors_run_again_over_the_same_facts(scene):
    active(scene, "c-1")
    duplicate_pair(scene)
    before = list(Finding.objects.values())
    audits = AuditEntry.objects.count()
    scene.at(60)
    assert run_detectors(conversation_ids=["c-1"]).get("raised", 0) == 0
    actions.run_everything()
    assert list(Finding.objects.values()) == before
    assert AuditEntry.objects.count() == audits


def test_it_keeps_one_open_finding_per_kind_and_subject_and_updates_its_evidence(scene):
    active(scene, "c-1")
    duplicate_pair(scene)
    first_seen = Finding.objects.get().first_seen
    scene.at(100)
    duplicate_pair(scene, first="m-3", second="m-4", at=100)
    found = Finding.objects.get()
    assert (found.count, len(found.evidence["duplicates"])) == (2, 2)
    assert found.first_seen == first_seen
    assert found.last_seen > first_seen


def test_it_does_not_raise_a_dismissed_finding_again_for_the_same_facts_but_does_for_new_ones(scene, admin_user):
    active(scene, "c-1")
    duplicate_pair(scene)
    found = Finding.objects.get()
    assert actions.close_finding(found, status="dismissed", actor="user:ada-admin", note="known test traffic")
    run_detectors(conversation_ids=["c-1"])
    assert Finding.objects.count() == 1
    duplicate_pair(scene, first="m-3", second="m-4", at=100)
    assert Finding.objects.filter(status="open").count() == 1
    assert Finding.objects.count() == 2


def test_it_audits_an_automatic_resolution_with_the_reason(scene):
    scene.start("c-first", seconds=0, customer_key="k")
    scene.start("c-second", seconds=60, customer_key="k")
    scene.state("c-first", "closed", seconds=30)
    entry = AuditEntry.objects.get(action="finding.resolved")
    assert entry.actor == "system:diagnostics.tasks.run_detectors"
    assert "no other conversation" in entry.reason


def test_it_pushes_a_raised_finding_to_the_health_and_conversation_groups_after_commit(scene):
    layer = get_channel_layer()
    health = async_to_sync(layer.new_channel)()
    conversation = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(HEALTH_GROUP, health)
    async_to_sync(layer.group_add)(conversation_group("c-1"), conversation)
    active(scene, "c-1")
    duplicate_pair(scene)
    for channel in (health, conversation):
        # Webhooks also push health.update / timeline.event; the finding follows them.
        for _ in range(50):
            message = async_to_sync(layer.receive)(channel)
            if message["type"] == "finding.raised":
                break
        assert message["type"] == "finding.raised"
        assert (message["finding"]["kind"], message["finding"]["conversationId"]) == ("duplicate_message", "c-1")
        assert message["finding"]["guideSection"].startswith("2. Configuring WebSocket Reconnection")
    async_to_sync(layer.flush)()


def test_it_pushes_nothing_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        finding = Finding.objects.create(
            kind="ghost_session",
            severity="critical",
            subject="conversation:x",
            conversation_id="x",
            remediation="r",
            guide_section="s",
            first_seen=timezone.now(),
            last_seen=timezone.now(),
        )
        from diagnostics import events

        events.finding_raised(finding)
        transaction.set_rollback(True)
    assert callbacks == []


# --- validate_liveness ------------------------------------------------------------------------------


def test_it_turns_a_quiet_socket_silent_then_closed_and_raises_the_ghost_by_time_alone(scene, deployment):
    active(scene, "c-1")
    scene.send(
        deployment,
        scene.socket("s-1", "open", seconds=3, conversation_id="c-1"),
        scene.socket("s-1", "heartbeat", seconds=30, conversation_id="c-1", rttMs=30),
    )
    customer = Participant.objects.get(participant_id="cust-1")
    assert customer.socket_state == "open"
    scene.at(30 + 91)
    validate_liveness()
    customer.refresh_from_db()
    assert customer.socket_state == "silent"
    assert not Finding.objects.exists()
    scene.at(30 + 301)
    validate_liveness()
    customer.refresh_from_db()
    assert customer.socket_state == "closed"
    found = Finding.objects.get(kind="ghost_session")
    assert found.evidence["sockets"][0]["state"] == "quiet"
    assert found.evidence["socketDownSince"] == scene.instant(30)
    # The widget comes back: the next liveness pass resolves it.
    scene.send(deployment, scene.socket("s-1", "heartbeat", seconds=340, conversation_id="c-1", rttMs=30))
    found.refresh_from_db()
    assert found.status == "resolved"


def test_it_raises_a_stale_session_from_the_liveness_task_without_any_new_event(scene):
    active(scene, "c-1")
    scene.at(2 + 901)
    stats = validate_liveness()
    assert stats["raised"] == 1
    assert Finding.objects.get().kind == "stale_session"


def test_it_resolves_a_silent_socket_from_a_session_without_conversation(scene, deployment):
    beacons = [
        scene.beacon("socket.state", "s-x", seconds=10 + 5 * i, event="pong_missed", missedPongs=i + 1, readyState=1)
        for i in range(4)
    ]
    scene.send(deployment, *beacons)
    found = Finding.objects.get()
    assert (found.kind, found.subject, found.conversation_id, found.session_key) == (
        "silent_socket",
        "session:s-x",
        "",
        "s-x",
    )


def test_it_runs_everything_in_chunks_when_the_task_has_no_arguments(scene, monkeypatch):
    import diagnostics.actions as diagnostics_actions

    monkeypatch.setattr(diagnostics_actions, "CHUNK_SIZE", 2)
    for number in range(5):
        scene.start(f"c-{number}", seconds=number, customer_key="same-customer")
    Finding.objects.all().delete()
    chunks = []
    original = diagnostics_actions.run_detectors

    def spy(ids=None, keys=None, **options):
        chunks.append(list(ids or []))
        return original(ids, keys, **options)

    monkeypatch.setattr(diagnostics_actions, "run_detectors", spy)
    assert run_detectors() == {"chunks": 3}
    assert chunks == [["c-0", "c-1"], ["c-2", "c-3"], ["c-4"]]
    assert Finding.objects.filter(kind="duplicate_conversation").count() == 4


def test_it_stays_cheap_for_one_conversation(scene, deployment, django_assert_max_num_queries):
    active(scene, "c-1")
    for number in range(30):
        scene.message("c-1", f"m-{number}", seconds=10 + number, text=f"line {number}")
    scene.send(
        deployment,
        scene.init("s-1", seconds=50, conversation_id="c-1"),
        scene.socket("s-1", "heartbeat", seconds=50, conversation_id="c-1", rttMs=20),
        scene.beacon(
            "history.fetch", "s-1", seconds=51, conversationId="c-1", afterId="m-3", returnedIds=["m-4", "m-5"]
        ),
    )
    with django_assert_max_num_queries(25):
        actions.run_detectors(["c-1"])
