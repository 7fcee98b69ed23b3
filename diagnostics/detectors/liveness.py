"""Socket liveness: ghost_session, silent_socket, reconnect_storm (guide, Edge Case 1 and section 2).

A widget's socket is identified by its session (sessionKey: one browser profile and origin)
within a conversation; its socket.state beacons in sentAt order are its history. The socket
health shown on participants (socket_state, last heartbeat, missed pongs, ...) is derived here
too, by ``socket_health``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from conversations.models import OPEN_STATES, RECONCILED_CLOSE_REASONS, SocketState
from diagnostics.beacons import READY_STATE_OPEN
from diagnostics.detectors import Clear, Detection, Thresholds, capped, instant
from diagnostics.detectors.facts import ConversationFacts, SessionFacts
from diagnostics.models import BeaconKind, FindingKind, TelemetryBeacon

KINDS = (FindingKind.GHOST_SESSION, FindingKind.SILENT_SOCKET, FindingKind.RECONNECT_STORM)
SESSION_KINDS = (FindingKind.SILENT_SOCKET, FindingKind.RECONNECT_STORM)

# The socket works: it opened, a ping/pong round trip completed, it reconnected, or the widget
# fell back to HTTP polling (messages still flow).
LIVE_EVENTS = frozenset({"open", "heartbeat", "reconnected", "polling_fallback"})
# What a client does about missed pongs (guide, Edge Case 1: force a reconnection).
REACTION_EVENTS = frozenset({"reconnect_attempt", "reconnected", "close", "error", "open", "polling_fallback"})
# The socket is down: closed, failed, or being re-established.
DOWN_EVENTS = frozenset({"close", "error", "reconnect_attempt"})
# A reconnect episode ends when the socket works again.
SUCCESS_EVENTS = frozenset({"open", "reconnected", "heartbeat"})


def detect(facts: ConversationFacts) -> dict:
    sockets = sockets_of(facts.beacons_of(BeaconKind.SOCKET_STATE))
    return {
        FindingKind.GHOST_SESSION: ghost_session(facts, sockets),
        FindingKind.SILENT_SOCKET: silent_socket(sockets, facts.thresholds, facts.now),
        FindingKind.RECONNECT_STORM: reconnect_storm(sockets, facts.thresholds),
    }


def detect_session(facts: SessionFacts) -> dict:
    sockets = sockets_of(facts.beacons_of(BeaconKind.SOCKET_STATE))
    return {
        FindingKind.SILENT_SOCKET: silent_socket(sockets, facts.thresholds, facts.now),
        FindingKind.RECONNECT_STORM: reconnect_storm(sockets, facts.thresholds),
    }


def sockets_of(beacons: list[TelemetryBeacon]) -> dict[str, list[TelemetryBeacon]]:
    """socket.state beacons by session, each list in (sentAt, arrival) order."""
    sockets: dict[str, list[TelemetryBeacon]] = defaultdict(list)
    for beacon in beacons:
        sockets[beacon.session_key].append(beacon)
    return dict(sorted(sockets.items()))


def _event(beacon: TelemetryBeacon) -> str:
    return beacon.payload.get("event") or ""


def _missed(beacon: TelemetryBeacon, consecutive: int) -> int:
    value = beacon.payload.get("missedPongs")
    return value if isinstance(value, int) else consecutive


def _silent_marker(beacon: TelemetryBeacon, consecutive: int, thresholds: Thresholds) -> bool:
    """A pong_missed that reaches the threshold while the socket still says OPEN."""
    return (
        _event(beacon) == "pong_missed"
        and beacon.payload.get("readyState") == READY_STATE_OPEN
        and _missed(beacon, consecutive) >= thresholds.missed_pongs
    )


@dataclass(frozen=True)
class Downtime:
    """Since when one socket has not been working, and the beacon that shows it."""

    since: datetime
    beacon: TelemetryBeacon
    reason: str  # closed | silent | quiet


def downtime(beacons: list[TelemetryBeacon], thresholds: Thresholds, now: datetime) -> Downtime | None:
    """None while the socket works; else when it stopped (the first beacon after the last live one).

    Down: it closed, failed or is reconnecting; or it missed the threshold of pongs while
    reporting OPEN; or it reported nothing for the heartbeat timeout (silent).
    """
    last_live = max((i for i, b in enumerate(beacons) if _event(b) in LIVE_EVENTS), default=-1)
    trailing = beacons[last_live + 1 :]
    quiet = now - beacons[-1].sent_at > timedelta(seconds=thresholds.heartbeat_timeout_seconds)
    if not trailing:
        return Downtime(beacons[-1].sent_at, beacons[-1], "quiet") if quiet else None
    consecutive = 0
    for beacon in trailing:
        consecutive = consecutive + 1 if _event(beacon) == "pong_missed" else 0
        if _event(beacon) in DOWN_EVENTS:
            return Downtime(trailing[0].sent_at, beacon, "closed")
        if _silent_marker(beacon, consecutive, thresholds):
            return Downtime(trailing[0].sent_at, beacon, "silent")
    return Downtime(trailing[0].sent_at, trailing[-1], "quiet") if quiet else None


def _beacon(beacon: TelemetryBeacon) -> dict:
    payload = beacon.payload
    item = {"beaconId": beacon.beacon_id, "event": _event(beacon), "sentAt": instant(beacon.sent_at)}
    for key in ("participantId", "readyState", "missedPongs", "closeCode", "attempt", "delayMs", "rttMs"):
        if payload.get(key) is not None:
            item[key] = payload[key]
    return item


def ghost_session(facts: ConversationFacts, sockets: dict[str, list[TelemetryBeacon]]):
    """Edge Case 1 / docs "Ghost grace period".

    Either the mirror holds the conversation open while every customer socket has been closed
    or silent for longer than the grace period with no inbound message since; or the platform
    closed it while its widget keeps reporting it live (a live report more than one pong window
    after the close, and nothing since saying the socket closed).
    """
    conversation = facts.conversation
    if conversation is None:
        return Clear("the conversation is not in the mirror")
    if conversation.close_reason in RECONCILED_CLOSE_REASONS:
        return _ghost_found_by_reconciliation(conversation)
    if not sockets:
        return Clear("no socket telemetry names this conversation")
    thresholds = facts.thresholds
    if conversation.state not in OPEN_STATES:
        return _ghost_after_close(facts, sockets)
    downs = {key: downtime(beacons, thresholds, facts.now) for key, beacons in sockets.items()}
    working = [key for key, down in downs.items() if down is None]
    if working:
        latest = sockets[working[0]][-1]
        return Clear(
            f"the customer socket of session {working[0]} reported {_event(latest)} at {instant(latest.sent_at)}"
        )
    since = max(down.since for down in downs.values())
    grace = timedelta(seconds=thresholds.ghost_grace_seconds)
    if facts.now - since <= grace:
        return Clear(f"the customer socket is down since {instant(since)}, within the grace period")
    if conversation.last_inbound_at is not None and conversation.last_inbound_at > since:
        return Clear(f"an inbound message at {instant(conversation.last_inbound_at)} followed the socket going down")
    evidence = {
        "variant": "socket_down_while_open",
        "state": conversation.state,
        "socketDownSince": instant(since),
        "graceSeconds": thresholds.ghost_grace_seconds,
        "lastInboundAt": instant(conversation.last_inbound_at),
        "lastActivityAt": instant(conversation.last_activity_at),
        "sockets": [
            {
                "sessionKey": key,
                "state": down.reason,
                "downSince": instant(down.since),
                "lastLive": _last_live(sockets[key]),
                "shownBy": _beacon(down.beacon),
            }
            for key, down in downs.items()
        ],
    }
    first = next(iter(downs.values()))
    return Detection(
        FindingKind.GHOST_SESSION,
        evidence,
        ["open", instant(since)],
        participant_id=first.beacon.participant_id,
        session_key=next(iter(downs)),
    )


def _last_live(beacons: list[TelemetryBeacon]) -> dict | None:
    live = [b for b in beacons if _event(b) in LIVE_EVENTS]
    return _beacon(live[-1]) if live else None


def _ghost_found_by_reconciliation(conversation):
    """reconcile_with_platform found the platform closed (or unaware of) a conversation the mirror held open."""
    evidence = {
        "variant": "platform_closed_while_mirror_open",
        "state": conversation.state,
        "closeReason": conversation.close_reason,
        "correctedAt": instant(conversation.closed_at),
        "lastActivityAt": instant(conversation.last_activity_at),
        "lastInboundAt": instant(conversation.last_inbound_at),
    }
    return Detection(FindingKind.GHOST_SESSION, evidence, ["reconciled", instant(conversation.closed_at)])


def _ghost_after_close(facts: ConversationFacts, sockets: dict[str, list[TelemetryBeacon]]):
    conversation = facts.conversation
    if conversation.closed_at is None:
        return Clear(f"the conversation is {conversation.state}")
    notice = conversation.closed_at + timedelta(seconds=facts.thresholds.pong_window_seconds)
    still_live = []
    for key, beacons in sockets.items():
        after = [b for b in beacons if b.sent_at > notice]
        live_after = [b for b in after if _event(b) in LIVE_EVENTS]
        if live_after and _event(after[-1]) in LIVE_EVENTS:
            still_live.append((key, live_after[0], after[-1], len(live_after)))
    if not still_live:
        return Clear(f"the conversation is {conversation.state} and its widget does not report it live")
    evidence = {
        "variant": "live_after_platform_close",
        "state": conversation.state,
        "closedAt": instant(conversation.closed_at),
        "closeReason": conversation.close_reason,
        "sockets": [
            {"sessionKey": key, "firstLiveAfterClose": _beacon(first), "latest": _beacon(latest), "liveReports": count}
            for key, first, latest, count in still_live
        ],
    }
    return Detection(
        FindingKind.GHOST_SESSION,
        evidence,
        ["closed", instant(conversation.closed_at), sorted(first.beacon_id for _, first, _, _ in still_live)],
        participant_id=still_live[0][1].participant_id,
        session_key=still_live[0][0],
    )


def silent_socket(sockets: dict[str, list[TelemetryBeacon]], thresholds: Thresholds, now: datetime):
    """readyState OPEN with at least the threshold of consecutive missed pongs, and no reconnect.

    The client's next socket beacon after the threshold miss shows whether it reacted (reconnect,
    close, polling fallback); another miss or a heartbeat on the same socket means it did not.
    With no beacon after it, the client gets the heartbeat timeout to report a reaction.
    """
    episodes = []
    for key, beacons in sockets.items():
        consecutive = 0
        for index, beacon in enumerate(beacons):
            event = _event(beacon)
            if event != "pong_missed":
                consecutive = 0
                continue
            consecutive += 1
            previous = beacons[index - 1] if index else None
            if (
                previous is not None
                and _event(previous) == "pong_missed"
                and _silent_marker(previous, consecutive - 1, thresholds)
            ):
                continue  # the episode already reached the threshold at an earlier beacon
            if not _silent_marker(beacon, consecutive, thresholds):
                continue
            if any(b.sent_at == beacon.sent_at and _event(b) in REACTION_EVENTS for b in beacons):
                continue  # reported in the same instant as the miss: it reacted
            following = beacons[index + 1] if index + 1 < len(beacons) else None
            if following is not None:
                if _event(following) in REACTION_EVENTS:
                    continue
                what = {"followedBy": _beacon(following)}
            elif now - beacon.sent_at > timedelta(seconds=thresholds.heartbeat_timeout_seconds):
                what = {"followedBy": None, "noReactionWithinSeconds": thresholds.heartbeat_timeout_seconds}
            else:
                continue
            episodes.append({"sessionKey": key, "thresholdMiss": _beacon(beacon), **what})
    if not episodes:
        return Clear("every socket that missed pongs reconnected or recovered")
    first = episodes[0]
    return Detection(
        FindingKind.SILENT_SOCKET,
        {
            "missedPongsThreshold": thresholds.missed_pongs,
            "pongWindowSeconds": thresholds.pong_window_seconds,
            "episodes": capped(episodes),
        },
        sorted(episode["thresholdMiss"]["beaconId"] for episode in episodes),
        count=len(episodes),
        participant_id=first["thresholdMiss"].get("participantId", ""),
        session_key=first["sessionKey"],
    )


def _delays(attempts: list[TelemetryBeacon]) -> list[float]:
    """Each attempt's delay: delayMs as reported, else the time since the previous attempt."""
    delays = []
    for index, beacon in enumerate(attempts):
        delay = beacon.payload.get("delayMs")
        if delay is None:
            delay = (beacon.sent_at - attempts[index - 1].sent_at).total_seconds() * 1000 if index else 0
        delays.append(float(delay))
    return delays


def _storm_runs(attempts: list[TelemetryBeacon], thresholds: Thresholds) -> list[list[int]]:
    """Runs of consecutive attempts whose delays do not grow, each below the backoff cap."""
    delays = _delays(attempts)
    runs, run = [], []
    for index, delay in enumerate(delays):
        if delay >= thresholds.backoff_cap_ms:
            run = []
        elif run and delay <= delays[run[-1]]:
            run.append(index)
        else:
            run = [index]
        if len(run) == thresholds.storm_attempts:
            runs.append(run)
        elif len(run) > thresholds.storm_attempts:
            runs[-1] = run
    return runs


def reconnect_storm(sockets: dict[str, list[TelemetryBeacon]], thresholds: Thresholds):
    """Reconnect attempts whose delays do not grow: no exponential backoff (guide, section 2)."""
    storms = []
    for key, beacons in sockets.items():
        episode: list[TelemetryBeacon] = []
        for beacon in [*beacons, None]:
            event = _event(beacon) if beacon is not None else "open"
            if event == "reconnect_attempt":
                episode.append(beacon)
                continue
            if event not in SUCCESS_EVENTS:
                continue
            for run in _storm_runs(episode, thresholds):
                delays = _delays(episode)
                storms.append(
                    {
                        "sessionKey": key,
                        "attempts": [{**_beacon(episode[i]), "effectiveDelayMs": delays[i]} for i in run],
                    }
                )
            episode = []
    if not storms:
        return Clear("reconnect delays grow (exponential backoff)")
    first = storms[0]
    return Detection(
        FindingKind.RECONNECT_STORM,
        {
            "minimumAttempts": thresholds.storm_attempts,
            "backoffCapMs": thresholds.backoff_cap_ms,
            "storms": capped(storms),
        },
        [[storm["attempts"][0]["beaconId"], len(storm["attempts"])] for storm in storms],
        count=len(storms),
        participant_id=first["attempts"][0].get("participantId", ""),
        session_key=first["sessionKey"],
    )


def socket_health(beacons: list[TelemetryBeacon], thresholds: Thresholds, now: datetime) -> dict:
    """Participant socket-health fields derived from one participant's socket.state beacons."""
    latest = beacons[-1]
    event = _event(latest)
    heartbeats = [b for b in beacons if _event(b) == "heartbeat"]
    if event in ("close", "error"):
        state = SocketState.CLOSED
    elif event == "reconnect_attempt":
        state = SocketState.RECONNECTING
    elif event == "polling_fallback":
        state = SocketState.POLLING
    elif _silent_marker(latest, _trailing_misses(beacons), thresholds):
        state = SocketState.SILENT
    else:
        state = SocketState.OPEN
    quiet_for = now - latest.sent_at
    if state != SocketState.CLOSED and quiet_for > timedelta(seconds=thresholds.ghost_grace_seconds):
        state = SocketState.CLOSED  # nothing heard for the grace period: the widget is gone
    elif state == SocketState.OPEN and quiet_for > timedelta(seconds=thresholds.heartbeat_timeout_seconds):
        state = SocketState.SILENT
    rtt = heartbeats[-1].payload.get("rttMs") if heartbeats else None
    return {
        "socket_state": state,
        "last_heartbeat_at": heartbeats[-1].sent_at if heartbeats else None,
        "missed_pongs": _missed(latest, _trailing_misses(beacons)) if event == "pong_missed" else 0,
        "rtt_ms": round(rtt) if isinstance(rtt, int | float) else None,
        "reconnects": sum(1 for b in beacons if _event(b) == "reconnect_attempt"),
        "origin": next((b.origin for b in reversed(beacons) if b.origin), ""),
    }


def _trailing_misses(beacons: list[TelemetryBeacon]) -> int:
    count = 0
    for beacon in reversed(beacons):
        if _event(beacon) != "pong_missed":
            break
        count += 1
    return count
