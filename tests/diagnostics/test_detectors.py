"""Each finding kind: a scenario fed through POST /webhooks/native/ and POST /telemetry/ that must raise it,
with the evidence a supervisor checks, and a near miss that must not."""

from __future__ import annotations

import pytest

from diagnostics.models import Finding
from tests.diagnostics.scene import APP_ORIGIN, all_findings, open_findings

pytestmark = pytest.mark.django_db


def active(scene, conversation_id, *, seconds=0, customer_key="", **start_data):
    scene.start(conversation_id, seconds=seconds, customer_key=customer_key, **start_data)
    scene.join(conversation_id, "cust-1", "customer", seconds=seconds + 1)
    scene.join(conversation_id, "agent-1", "agent", seconds=seconds + 2)
    scene.state(conversation_id, "active", seconds=seconds + 2)


def finding(kind, conversation_id) -> Finding:
    return Finding.objects.get(kind=kind, conversation_id=conversation_id)


def test_it_raises_nothing_for_a_clean_conversation_now_or_later(scene, deployment):
    from diagnostics.actions import run_everything, validate_liveness

    c = "c-clean"
    scene.start(c, seconds=0, customer_key="cust-clean")
    scene.send(
        deployment,
        scene.init("s-1", seconds=1, conversation_id=c),
        scene.socket("s-1", "open", seconds=1, conversation_id=c),
    )
    scene.join(c, "cust-1", "customer", seconds=1)
    scene.join(c, "agent-1", "agent", seconds=2)
    scene.state(c, "active", seconds=2)
    scene.message(c, "m-1", seconds=3, text="I need to update my payment method.")
    scene.message(c, "m-2", seconds=4, participant_id="agent-1", direction="outbound", text="Sure")
    scene.send(deployment, scene.socket("s-1", "heartbeat", seconds=30, conversation_id=c, rttMs=42))
    scene.send(
        deployment,
        scene.beacon(
            "message.retry",
            "s-1",
            seconds=31,
            conversationId=c,
            idempotencyKey="idem-m-1",
            attempt=2,
            outcome="duplicate",
        ),
    )
    scene.transfer(
        c,
        seconds=40,
        fromParticipantId="agent-1",
        toParticipantId="agent-2",
        fromQueueId="billing",
        toQueueId="tech",
        routingData={"queueId": "tech", "skillRequirements": ["billing"], "priority": 3},
        customAttributes={"tier": "gold"},
    )
    scene.leave(c, "agent-1", seconds=40, disconnect_type="transfer")
    scene.join(c, "agent-2", "agent", seconds=41)
    scene.message(c, "m-3", seconds=50, participant_id="agent-2", direction="outbound", text="Done")
    scene.send(
        deployment,
        scene.socket("s-1", "heartbeat", seconds=55, conversation_id=c, rttMs=40),
        scene.beacon("history.fetch", "s-1", seconds=56, conversationId=c, afterId="m-1", returnedIds=["m-2", "m-3"]),
    )
    scene.leave(c, "agent-2", seconds=60)
    scene.leave(c, "cust-1", seconds=60)
    scene.state(c, "closed", seconds=61, reason="resolved")
    scene.send(deployment, scene.socket("s-1", "close", seconds=61, conversation_id=c, readyState=3, closeCode=1000))
    assert all_findings() == set()
    scene.at(4 * 3600)
    run_everything()
    validate_liveness()
    assert all_findings() == set()


# --- duplicate_conversation -------------------------------------------------------------------------


def test_it_raises_duplicate_conversation_when_a_customer_starts_a_second_one_while_the_first_is_open(scene):
    active(scene, "c-first", customer_key="cust-42")
    scene.start("c-second", seconds=60, customer_key="cust-42")
    assert open_findings() == {("duplicate_conversation", "c-second")}
    evidence = finding("duplicate_conversation", "c-second").evidence
    assert evidence["conversationStartedAt"] == scene.instant(60)
    [first] = evidence["openWhenItStarted"]
    assert (first["conversationId"], first["linkedBy"], first["key"]) == ("c-first", "customerKey", "cust-42")
    assert (first["startedAt"], first["closedAt"], first["state"]) == (scene.instant(0), None, "active")


def test_it_does_not_raise_duplicate_conversation_when_the_first_closed_before(scene):
    active(scene, "c-first", customer_key="cust-42")
    scene.state("c-first", "closed", seconds=30)
    scene.start("c-second", seconds=60, customer_key="cust-42")
    assert all_findings() == set()


def test_it_resolves_duplicate_conversation_when_a_late_close_shows_the_first_had_ended(scene):
    scene.start("c-first", seconds=0, customer_key="cust-42")
    scene.start("c-second", seconds=60, customer_key="cust-42")
    assert open_findings() == {("duplicate_conversation", "c-second")}
    scene.state("c-first", "closed", seconds=30)  # arrives late; happened before c-second started
    assert open_findings() == set()
    resolved = finding("duplicate_conversation", "c-second")
    assert resolved.status == "resolved"
    assert resolved.resolved_by == "system:diagnostics.tasks.run_detectors"
    assert "no other conversation" in resolved.resolution_note


def test_it_raises_duplicate_conversation_for_one_browser_session_that_lost_its_id(scene, deployment):
    active(scene, "c-first")
    scene.send(deployment, scene.init("s-1", seconds=5, conversation_id="c-first"))
    # A reload with sessionStorage lost the id: the same session starts another conversation.
    scene.send(deployment, scene.init("s-1", seconds=90, conversation_id="c-again", storage="session"))
    scene.start("c-again", seconds=90)
    assert open_findings() == {("duplicate_conversation", "c-again")}
    [first] = finding("duplicate_conversation", "c-again").evidence["openWhenItStarted"]
    assert (first["conversationId"], first["linkedBy"], first["key"]) == ("c-first", "sessionKey", "s-1")


def test_a_stored_id_the_platform_said_was_over_is_no_duplicate_while_its_close_is_still_on_the_way(scene, deployment):
    # The widget validated its stored id, was told to start anew, and did (guide, Step 3): the first
    # conversation was over for the platform even though its close webhook has not arrived yet.
    active(scene, "c-first", customer_key="cust-42")
    scene.send(deployment, scene.init("s-1", seconds=5, conversation_id="c-first"))
    scene.send(deployment, scene.init("s-1", seconds=90, conversation_id="c-next", storedConversationId="c-first"))
    scene.start("c-next", seconds=90, customer_key="cust-42")
    assert all_findings() == set()


def test_the_same_return_without_the_stored_id_is_a_duplicate(scene, deployment):
    active(scene, "c-first", customer_key="cust-42")
    scene.send(deployment, scene.init("s-1", seconds=5, conversation_id="c-first"))
    scene.send(deployment, scene.init("s-1", seconds=90, conversation_id="c-next"))
    scene.start("c-next", seconds=90, customer_key="cust-42")
    assert open_findings() == {("duplicate_conversation", "c-next")}


# --- unvalidated_resume -----------------------------------------------------------------------------


def test_it_raises_unvalidated_resume_for_a_resume_without_validation(scene, deployment):
    active(scene, "c-1")
    init = scene.init(
        "s-1",
        seconds=300,
        conversation_id="c-1",
        storedConversationId="c-1",
        storedAgeSeconds=290,
        validated=False,
        validationResult="resumed",
    )
    scene.send(deployment, init)
    found = finding("unvalidated_resume", "c-1")
    assert (found.status, found.severity) == ("open", "warning")
    [resume] = found.evidence["resumes"]
    assert resume["beaconId"] == init["id"]
    assert (resume["storedConversationId"], resume["validated"], resume["reasons"]) == ("c-1", False, ["not_validated"])
    assert found.guide_section.startswith("3. Implementing Deterministic Session Recovery")


def test_it_raises_unvalidated_resume_for_resuming_a_closed_conversation_even_if_validated(scene, deployment):
    active(scene, "c-1")
    scene.state("c-1", "closed", seconds=100, reason="agent")
    scene.send(
        deployment,
        scene.init("s-1", seconds=200, conversation_id="c-1", storedConversationId="c-1", validationResult="resumed"),
    )
    found = finding("unvalidated_resume", "c-1")
    assert found.severity == "critical"
    assert found.evidence["resumes"][0]["reasons"] == ["resumed_closed"]
    assert found.evidence["closedAt"] == scene.instant(100)


def test_it_does_not_raise_unvalidated_resume_for_validated_resumes_and_fresh_starts(scene, deployment):
    active(scene, "c-1")
    scene.send(
        deployment,
        scene.init("s-1", seconds=50, conversation_id="c-1", storedConversationId="c-1", validationResult="resumed"),
    )
    scene.state("c-1", "closed", seconds=100)
    # The stored id was validated, found closed, and a new conversation started: the right thing.
    scene.send(
        deployment,
        scene.init("s-1", seconds=200, conversation_id="c-2", storedConversationId="c-1", validationResult="new"),
    )
    scene.start("c-2", seconds=200)
    assert all_findings() == set()


# --- cross_origin_reset -----------------------------------------------------------------------------


def test_it_raises_cross_origin_reset_on_the_new_conversation(scene, deployment):
    active(scene, "c-www", customer_key="cust-7")
    scene.send(deployment, scene.init("s-www", seconds=3, conversation_id="c-www"))
    scene.start("c-app", seconds=120, customer_key="cust-7")
    init = scene.init("s-app", seconds=120, conversation_id="c-app", origin=APP_ORIGIN)
    scene.send(deployment, init, origin=APP_ORIGIN)
    # A cross-origin reset is also a duplicate conversation (docs: "may also be"); both sit on c-app.
    assert open_findings() == {("cross_origin_reset", "c-app"), ("duplicate_conversation", "c-app")}
    [reset] = finding("cross_origin_reset", "c-app").evidence["resets"]
    assert (reset["beaconId"], reset["origin"], reset["storedConversationId"]) == (init["id"], APP_ORIGIN, None)
    assert reset["activeConversation"]["conversationId"] == "c-www"
    assert reset["activeConversation"]["origins"] == ["https://www.example.com"]


def test_it_does_not_raise_cross_origin_reset_when_the_other_conversation_had_closed(scene, deployment):
    active(scene, "c-www", customer_key="cust-7")
    scene.send(deployment, scene.init("s-www", seconds=3, conversation_id="c-www"))
    scene.state("c-www", "closed", seconds=60)
    scene.start("c-app", seconds=120, customer_key="cust-7")
    scene.send(
        deployment, scene.init("s-app", seconds=120, conversation_id="c-app", origin=APP_ORIGIN), origin=APP_ORIGIN
    )
    assert all_findings() == set()


def test_it_does_not_call_a_new_session_on_the_same_origin_a_cross_origin_reset(scene, deployment):
    active(scene, "c-www", customer_key="cust-7")
    scene.send(deployment, scene.init("s-www", seconds=3, conversation_id="c-www"))
    scene.start("c-www-2", seconds=120, customer_key="cust-7")
    scene.send(deployment, scene.init("s-www-2", seconds=120, conversation_id="c-www-2"))
    assert open_findings() == {("duplicate_conversation", "c-www-2")}


# --- stale_session ----------------------------------------------------------------------------------


def test_it_raises_stale_session_past_the_ttl_and_heartbeats_do_not_renew_it(scene, deployment):
    active(scene, "c-1")
    scene.message("c-1", "m-1", seconds=10)
    scene.send(deployment, scene.socket("s-1", "heartbeat", seconds=900, conversation_id="c-1", rttMs=30))
    assert all_findings() == set()
    scene.at(911)
    scene.send(deployment, scene.socket("s-1", "heartbeat", seconds=911, conversation_id="c-1", rttMs=30))
    found = finding("stale_session", "c-1")
    assert found.evidence == {
        "state": "active",
        "lastActivityAt": scene.instant(10),
        "ttlSeconds": 900,
        "expiresAt": scene.instant(910),
    }
    # Activity renews the session: the finding resolves itself and says why.
    scene.message("c-1", "m-2", seconds=912)
    found.refresh_from_db()
    assert found.status == "resolved"
    assert found.resolution_note.startswith(f"activity at {scene.instant(912)}")


def test_it_uses_the_ttl_of_the_deployment_whose_telemetry_names_the_conversation(scene):
    from diagnostics.actions import create_deployment

    short = create_deployment(name="kiosk", origins=["https://www.example.com"], ttl_seconds=120, actor="system:test")
    active(scene, "c-1")
    scene.send(short, scene.socket("s-1", "open", seconds=3, conversation_id="c-1"))
    scene.at(130)
    scene.send(short, scene.socket("s-1", "heartbeat", seconds=130, conversation_id="c-1", rttMs=30))
    assert finding("stale_session", "c-1").evidence["ttlSeconds"] == 120


def test_it_records_a_stale_session_the_platform_expired_and_resolves_it(scene, deployment):
    active(scene, "c-1")
    scene.state("c-1", "expired", seconds=1000, reason="inactivity")
    found = finding("stale_session", "c-1")
    assert found.status == "resolved"
    assert found.evidence["closedAt"] == scene.instant(1000)
    assert found.resolution_note == f"the conversation was expired at {scene.instant(1000)}"


# --- ghost_session ----------------------------------------------------------------------------------


def test_it_raises_ghost_session_when_the_customer_socket_is_down_past_the_grace_period(scene, deployment):
    active(scene, "c-1")
    scene.message("c-1", "m-1", seconds=5)
    scene.send(deployment, scene.socket("s-1", "open", seconds=3, conversation_id="c-1"))
    scene.send(
        deployment, scene.socket("s-1", "close", seconds=100, conversation_id="c-1", readyState=3, closeCode=1006)
    )
    scene.at(350)
    scene.message("c-1", "m-2", seconds=350, participant_id="agent-1", direction="outbound", text="Still there?")
    assert all_findings() == set()  # down 250 s: within the 300 s grace period
    scene.at(401)
    scene.message("c-1", "m-3", seconds=401, participant_id="agent-1", direction="outbound", text="Hello?")
    found = finding("ghost_session", "c-1")
    assert found.severity == "critical"
    assert found.evidence["variant"] == "socket_down_while_open"
    assert (found.evidence["socketDownSince"], found.evidence["graceSeconds"]) == (scene.instant(100), 300)
    assert found.evidence["lastInboundAt"] == scene.instant(5)
    [socket] = found.evidence["sockets"]
    assert (socket["sessionKey"], socket["shownBy"]["event"], socket["shownBy"]["closeCode"]) == ("s-1", "close", 1006)
    assert found.guide_section == "Edge Case 1: Silent WebSocket Termination During Network Partition"
    assert "5-second window" in found.remediation


def test_it_does_not_raise_ghost_session_when_the_customer_writes_after_the_socket_closed(scene, deployment):
    active(scene, "c-1")
    scene.send(deployment, scene.socket("s-1", "open", seconds=3, conversation_id="c-1"))
    scene.send(deployment, scene.socket("s-1", "close", seconds=100, conversation_id="c-1", readyState=3))
    scene.message("c-1", "m-1", seconds=200)  # inbound over HTTP: the customer is there
    scene.at(500)
    scene.message("c-1", "m-2", seconds=500, participant_id="agent-1", direction="outbound", text="ok")
    assert all_findings() == set()


def test_it_raises_ghost_session_when_the_widget_keeps_a_closed_conversation_live(scene, deployment):
    active(scene, "c-1")
    scene.send(deployment, scene.socket("s-1", "open", seconds=3, conversation_id="c-1"))
    scene.state("c-1", "closed", seconds=100, reason="agent")
    heartbeat = scene.socket("s-1", "heartbeat", seconds=130, conversation_id="c-1", rttMs=35)
    scene.send(deployment, heartbeat)
    found = finding("ghost_session", "c-1")
    assert found.evidence["variant"] == "live_after_platform_close"
    assert found.evidence["closedAt"] == scene.instant(100)
    assert found.evidence["sockets"][0]["firstLiveAfterClose"]["beaconId"] == heartbeat["id"]
    # The widget finally notices and closes its socket: the cause went away.
    scene.send(deployment, scene.socket("s-1", "close", seconds=140, conversation_id="c-1", readyState=3))
    found.refresh_from_db()
    assert found.status == "resolved"


def test_it_does_not_raise_ghost_session_for_a_heartbeat_in_flight_at_the_close(scene, deployment):
    active(scene, "c-1")
    scene.send(deployment, scene.socket("s-1", "open", seconds=3, conversation_id="c-1"))
    scene.state("c-1", "closed", seconds=100)
    scene.send(
        deployment,
        scene.socket("s-1", "heartbeat", seconds=102, conversation_id="c-1", rttMs=30),
        scene.socket("s-1", "close", seconds=103, conversation_id="c-1", readyState=3),
    )
    assert all_findings() == set()


# --- silent_socket ----------------------------------------------------------------------------------


def misses(scene, count, *, start, conversation_id="c-1", ready_state=1):
    return [
        scene.socket(
            "s-1",
            "pong_missed",
            seconds=start + 5 * i,
            conversation_id=conversation_id,
            missedPongs=i + 1,
            readyState=ready_state,
        )
        for i in range(count)
    ]


def test_it_raises_silent_socket_when_the_client_keeps_an_open_socket_after_three_missed_pongs(scene, deployment):
    active(scene, "c-1")
    beacons = misses(scene, 4, start=10)
    scene.send(deployment, scene.socket("s-1", "open", seconds=3, conversation_id="c-1"), *beacons)
    found = finding("silent_socket", "c-1")
    [episode] = found.evidence["episodes"]
    assert episode["thresholdMiss"]["beaconId"] == beacons[2]["id"]
    assert (episode["thresholdMiss"]["missedPongs"], episode["thresholdMiss"]["readyState"]) == (3, 1)
    assert episode["followedBy"]["beaconId"] == beacons[3]["id"]
    assert found.participant_id == "cust-1"


def test_it_raises_silent_socket_when_nothing_follows_the_third_miss_within_the_heartbeat_timeout(scene, deployment):
    active(scene, "c-1")
    scene.send(deployment, *misses(scene, 3, start=10))
    assert all_findings() == set()  # the client still has time to report its reconnect
    scene.at(200)
    scene.message("c-1", "m-1", seconds=200, participant_id="agent-1", direction="outbound", text="hi")
    assert open_findings() == {("silent_socket", "c-1")}


def test_it_does_not_raise_silent_socket_when_the_client_reconnects_after_three_misses(scene, deployment):
    active(scene, "c-1")
    scene.send(
        deployment,
        *misses(scene, 3, start=10),
        scene.socket(
            "s-1", "reconnect_attempt", seconds=21, conversation_id="c-1", attempt=1, delayMs=1000, readyState=3
        ),
        scene.socket("s-1", "reconnected", seconds=23, conversation_id="c-1"),
    )
    scene.at(500)
    scene.message("c-1", "m-1", seconds=500, participant_id="agent-1", direction="outbound", text="hi")
    assert "silent_socket" not in {kind for kind, _ in all_findings()}


# --- reconnect_storm --------------------------------------------------------------------------------


def attempts(scene, delays, *, start=10):
    return [
        scene.socket(
            "s-1",
            "reconnect_attempt",
            seconds=start + i,
            conversation_id="c-1",
            attempt=i + 1,
            delayMs=delay,
            readyState=3,
        )
        for i, delay in enumerate(delays)
    ]


def test_it_raises_reconnect_storm_for_attempts_whose_delays_do_not_grow(scene, deployment):
    active(scene, "c-1")
    beacons = attempts(scene, [500, 500, 500, 500])
    scene.send(deployment, *beacons, scene.socket("s-1", "reconnected", seconds=20, conversation_id="c-1"))
    found = finding("reconnect_storm", "c-1")
    [storm] = found.evidence["storms"]
    assert [a["beaconId"] for a in storm["attempts"]] == [b["id"] for b in beacons]
    assert [a["delayMs"] for a in storm["attempts"]] == [500, 500, 500, 500]
    assert found.guide_section.startswith("2. Configuring WebSocket Reconnection")


def test_it_does_not_raise_reconnect_storm_for_exponential_backoff_or_its_cap(scene, deployment):
    active(scene, "c-1")
    backoff = attempts(scene, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
    scene.send(deployment, *backoff, scene.socket("s-1", "reconnected", seconds=30, conversation_id="c-1"))
    assert all_findings() == set()


# --- duplicate_message ------------------------------------------------------------------------------


def test_it_raises_duplicate_message_for_equal_text_within_ten_seconds_without_one_key(scene):
    active(scene, "c-1")
    scene.message("c-1", "m-1", seconds=10, text="I need to update my payment method.", idempotency_key="k-1")
    scene.message("c-1", "m-2", seconds=14, text="I need to update my payment method.", idempotency_key="k-2")
    found = finding("duplicate_message", "c-1")
    [pair] = found.evidence["duplicates"]
    assert (pair["first"]["messageId"], pair["second"]["messageId"], pair["secondsApart"]) == ("m-1", "m-2", 4.0)
    assert (pair["first"]["idempotencyKey"], pair["second"]["idempotencyKey"]) == ("k-1", "k-2")
    assert pair["participantId"] == "cust-1"


def test_it_raises_duplicate_message_for_a_retry_processed_as_new(scene, deployment):
    active(scene, "c-1")
    retry = scene.beacon(
        "message.retry", "s-1", seconds=20, conversationId="c-1", idempotencyKey="k-9", attempt=2, outcome="new"
    )
    scene.send(deployment, retry)
    [item] = finding("duplicate_message", "c-1").evidence["retriesProcessedAsNew"]
    assert (item["beaconId"], item["idempotencyKey"], item["attempt"]) == (retry["id"], "k-9", 2)


def test_it_does_not_raise_duplicate_message_for_deduplicated_retries_or_repeats_far_apart(scene, deployment):
    active(scene, "c-1")
    scene.message("c-1", "m-1", seconds=10, text="ok", idempotency_key="k-1")
    scene.send(
        deployment,
        scene.beacon(
            "message.retry",
            "s-1",
            seconds=12,
            conversationId="c-1",
            idempotencyKey="k-1",
            attempt=2,
            outcome="duplicate",
        ),
    )
    scene.message("c-1", "m-2", seconds=21, text="ok", idempotency_key="k-2")  # 11 s later: a new message
    assert all_findings() == set()


# --- cursor_drift -----------------------------------------------------------------------------------


def transcript(scene, count=5):
    active(scene, "c-1")
    for number in range(1, count + 1):
        scene.message("c-1", f"m-{number}", seconds=10 + number, text=f"line {number}")


def fetch(scene, seconds=60, **fields):
    return scene.beacon("history.fetch", "s-1", seconds=seconds, conversationId="c-1", **fields)


def test_it_raises_cursor_drift_for_a_timestamp_cursor(scene, deployment):
    transcript(scene)
    beacon = fetch(scene, since=scene.instant(12), returnedIds=["m-3", "m-4", "m-5"])
    scene.send(deployment, beacon)
    [item] = finding("cursor_drift", "c-1").evidence["fetches"]
    assert (item["beaconId"], item["timestampCursor"]) == (beacon["id"], scene.instant(12))


def test_it_raises_cursor_drift_for_a_gap_and_for_a_repeat(scene, deployment):
    transcript(scene)
    gap = fetch(scene, afterId="m-1", returnedIds=["m-2", "m-4", "m-5"])
    repeat = fetch(scene, afterId="m-2", returnedIds=["m-2", "m-3", "m-3"])
    scene.send(deployment, gap, repeat)
    items = {item["beaconId"]: item for item in finding("cursor_drift", "c-1").evidence["fetches"]}
    assert [m["messageId"] for m in items[gap["id"]]["missing"]] == ["m-3"]
    assert items[repeat["id"]]["repeatedIds"] == ["m-3"]
    assert items[repeat["id"]]["notAfterCursor"] == ["m-2"]


def test_it_does_not_raise_cursor_drift_for_an_after_id_fetch_with_contiguous_ids(scene, deployment):
    transcript(scene)
    scene.send(deployment, fetch(scene, afterId="m-2", returnedIds=["m-3", "m-4", "m-5"], etag='W/"5"'))
    # A message created after the fetch is not a gap in it.
    scene.message("c-1", "m-6", seconds=70, text="later")
    assert all_findings() == set()


# --- context_lost_on_handoff / participant_scoped_context ------------------------------------------


def test_it_raises_context_lost_on_handoff_with_the_lost_keys_and_their_values(scene):
    active(scene, "c-1", customAttributes={"tier": "gold", "tenantId": "acme"})
    scene.transfer(
        "c-1",
        seconds=30,
        fromParticipantId="agent-1",
        toParticipantId="agent-2",
        fromQueueId="billing",
        toQueueId="tech",
        routingData={"queueId": "tech"},
        customAttributes={"tier": "gold"},
    )
    found = finding("context_lost_on_handoff", "c-1")
    expected = ["customAttributes.tenantId", "routingData.priority", "routingData.skillRequirements"]
    assert found.evidence["lostKeys"] == expected
    [handoff] = found.evidence["handoffs"]
    assert (handoff["fromQueueId"], handoff["toQueueId"]) == ("billing", "tech")
    assert handoff["before"]["routingData.skillRequirements"] == ["billing"]
    assert handoff["after"]["routingData.skillRequirements"] is None


def test_it_raises_participant_scoped_context_for_routing_keys_on_a_participant(scene):
    scene.start("c-1", seconds=0, routingData={"queueId": "billing"})
    scene.join("c-1", "agent-1", "agent", seconds=2, attributes={"skillRequirements": ["billing"], "priority": 5})
    found = finding("participant_scoped_context", "c-1")
    [participant] = found.evidence["participants"]
    assert participant["participantId"] == "agent-1"
    assert participant["attributes"] == {"skillRequirements": ["billing"], "priority": 5}
    assert participant["onConversation"] == {"skillRequirements": False, "priority": False}


def test_it_does_not_raise_context_findings_for_a_full_transfer_and_plain_participant_attributes(scene):
    active(scene, "c-1")
    scene.join("c-1", "bot-1", "bot", seconds=3, attributes={"locale": "en-GB", "channelVersion": "2"})
    scene.transfer(
        "c-1",
        seconds=30,
        fromQueueId="billing",
        toQueueId="tech",
        routingData={"queueId": "tech", "skillRequirements": ["billing", "technical"], "priority": 3},
        customAttributes={"tier": "gold"},
    )
    assert all_findings() == set()


# --- event_after_close ------------------------------------------------------------------------------


def test_it_raises_event_after_close_for_a_platform_event_later_than_the_close(scene):
    active(scene, "c-1")
    scene.state("c-1", "closed", seconds=50, reason="agent", seq=10)
    scene.message("c-1", "m-late", seconds=60, participant_id="agent-1", direction="outbound", text="one more", seq=11)
    found = finding("event_after_close", "c-1")
    assert found.evidence["close"] == {
        "sequence": 10,
        "occurredAt": scene.instant(50),
        "eventId": "evt-c-1-10-conversation.state_changed",
    }
    [late] = found.evidence["eventsAfterClose"]
    assert (late["eventId"], late["type"], late["sequence"]) == ("evt-c-1-11-message.created", "message.created", 11)


def test_it_does_not_raise_event_after_close_for_a_late_delivery_of_an_earlier_event(scene):
    active(scene, "c-1")
    scene.state("c-1", "closed", seconds=50, seq=10)
    response = scene.message("c-1", "m-early", seconds=40, seq=8)
    assert response.json()["status"] == "stale"
    scene.leave("c-1", "agent-1", seconds=51)  # participants torn down after the close agree with it
    scene.state("c-1", "closed", seconds=52, reason="platform echo")
    assert all_findings() == set()


def test_it_compares_by_time_with_a_console_close_that_carries_no_sequence(scene):
    from conversations.actions import record_delivery
    from conversations.ingest.canonical import parse_canonical
    from tests.webhooks import event

    active(scene, "c-1")  # platform events with sequences 1..4
    scene.at(100)
    expiry = event("console-expire-c-1", "conversation.state_changed", "c-1", None, {"state": "expired"}, seconds=100)
    with scene.capture(execute=True):
        record_delivery(source="console", delivery=parse_canonical(expiry), body="{}")
    scene.message("c-1", "m-before", seconds=90, seq=5)  # sequence 5, but sent before the expiry
    assert "event_after_close" not in {kind for kind, _ in all_findings()}
    scene.message("c-1", "m-after", seconds=150, seq=6)
    [late] = finding("event_after_close", "c-1").evidence["eventsAfterClose"]
    assert late["eventId"] == "evt-c-1-6-message.created"
