"""State changes of diagnostics: telemetry intake, findings raised and closed by the detectors and by people.

Closing a finding is audited in the same transaction. Detectors (diagnostics/detectors/) are
pure; ``run_detectors`` loads their facts, refreshes the socket health telemetry implies, and
reconciles their verdicts with the stored findings, so a second run over the same facts
changes nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, OuterRef, Subquery
from django.utils import timezone

from console.jobs import enqueue_debounced_on_commit, enqueue_on_commit
from console.models import AuditEntry
from conversations.models import OPEN_STATES, Conversation, Participant, ParticipantRole
from diagnostics import events
from diagnostics.beacons import Beacon, normalize_origin
from diagnostics.detectors import Clear, context, lifecycle, liveness, messages, sessions
from diagnostics.detectors.facts import CHUNK_SIZE, load_conversations, load_sessions
from diagnostics.guide import REMEDIES
from diagnostics.models import (
    BeaconKind,
    Finding,
    FindingKind,
    FindingStatus,
    PendingDetection,
    TelemetryBeacon,
    WidgetDeployment,
)

CLOSING_STATUSES = (FindingStatus.RESOLVED, FindingStatus.DISMISSED)


def close_finding(
    finding: Finding, *, status: str, actor: str, note: str = "", actor_user=None, request_id: str = ""
) -> bool:
    """Resolve or dismiss one open finding; False when it was no longer open (someone else closed it)."""
    if status not in CLOSING_STATUSES:
        raise ValueError(f"status must be one of {CLOSING_STATUSES}")
    now = timezone.now()
    with transaction.atomic():
        # Claim with a conditional UPDATE: exactly one caller moves it out of "open".
        claimed = Finding.objects.filter(pk=finding.pk, status=FindingStatus.OPEN).update(
            status=status, resolved_at=now, resolved_by=actor, resolution_note=note
        )
        if not claimed:
            return False
        AuditEntry.objects.create(
            actor=actor,
            actor_user=actor_user,
            action=f"finding.{status}",
            target_type="finding",
            target_id=str(finding.pk),
            reason=note,
            before={"status": FindingStatus.OPEN, "kind": finding.kind, "subject": finding.subject},
            after={"status": status},
            request_id=request_id,
        )
    finding.status, finding.resolved_at, finding.resolved_by, finding.resolution_note = status, now, actor, note
    return True


def resolve_findings(
    conversation_id: str, kinds: Iterable[str], *, actor: str, note: str, actor_user=None, request_id: str = ""
) -> int:
    """Resolve the open findings of these kinds on a conversation (e.g. those a force-close answers)."""
    count = 0
    for finding in Finding.objects.filter(
        conversation_id=conversation_id, kind__in=list(kinds), status=FindingStatus.OPEN
    ):
        count += close_finding(
            finding, status=FindingStatus.RESOLVED, actor=actor, note=note, actor_user=actor_user, request_id=request_id
        )
    return count


# --- telemetry intake ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeResult:
    accepted: int
    duplicates: int
    conversation_ids: list[str]
    session_keys: list[str]


def record_beacons(deployment: WidgetDeployment, beacons: list[Beacon], *, origin: str) -> IntakeResult:
    """Store valid beacons once per (deployment, beacon id) and schedule the detectors for what they name.

    Socket health and findings are derived by the detectors run enqueued here (after the commit;
    eagerly without a broker), so a rolled-back batch changes nothing.
    """
    unique: dict[str, Beacon] = {}
    for beacon in beacons:
        unique.setdefault(beacon.id, beacon)
    with transaction.atomic():
        existing = set(
            TelemetryBeacon.objects.filter(deployment=deployment, beacon_id__in=list(unique)).values_list(
                "beacon_id", flat=True
            )
        )
        fresh = [beacon for beacon_id, beacon in unique.items() if beacon_id not in existing]
        TelemetryBeacon.objects.bulk_create(
            [
                TelemetryBeacon(
                    deployment=deployment,
                    beacon_id=beacon.id,
                    kind=beacon.kind,
                    session_key=beacon.session_key,
                    conversation_id=beacon.conversation_id,
                    participant_id=beacon.participant_id,
                    origin=beacon.fields.get("origin") or origin,
                    sent_at=beacon.sent_at,
                    payload=beacon.fields,
                )
                for beacon in fresh
            ],
            ignore_conflicts=True,
        )
        conversation_ids = sorted({beacon.conversation_id for beacon in fresh if beacon.conversation_id})
        session_keys = sorted({beacon.session_key for beacon in fresh if not beacon.conversation_id})
        if conversation_ids:
            adopt_deployment_ttl(conversation_ids, deployment)
        if conversation_ids or session_keys:
            enqueue_on_commit(
                "diagnostics.tasks.run_detectors", conversation_ids=conversation_ids, session_keys=session_keys
            )
    return IntakeResult(len(fresh), len(beacons) - len(fresh), conversation_ids, session_keys)


def readopt_deployment_ttls() -> int:
    """Each conversation stored telemetry names takes its deployment's TTL again; answers the count.

    For a rebuilt mirror (``replay_events --reset``): the TTL comes from telemetry, not from the
    receipts. The deployment is that of the conversation's latest beacon, as the detectors read it.
    Conversations whose beacons were purged keep the default TTL.
    """
    latest = TelemetryBeacon.objects.filter(conversation_id=OuterRef("pk")).order_by("-sent_at", "-id")
    named = TelemetryBeacon.objects.exclude(conversation_id="").values("conversation_id")
    return Conversation.objects.filter(pk__in=named).update(
        ttl_seconds=Subquery(latest.values("deployment__session_ttl_seconds")[:1])
    )


def claim_beacon_quota(deployment: WidgetDeployment, count: int, *, now) -> int | None:
    """Count ``count`` beacons against the deployment's daily quota; None when they fit, else seconds to wait.

    The quota bounds what one key can store, whatever the number of client addresses behind it.
    A batch is counted whole before it is stored (duplicates included), so at most the quota is
    stored per UTC day even under concurrent requests: each claim is one conditional UPDATE.
    """
    quota = quota_of(deployment)
    if not quota or count <= 0:
        return None
    today = now.astimezone(UTC).date()
    rows = 0
    if count <= quota:
        deployments = WidgetDeployment.objects.filter(pk=deployment.pk)
        # The first claim of a day resets the count; a concurrent one re-reads the row and takes the second path.
        rows = deployments.exclude(beacon_quota_day=today).update(beacon_quota_day=today, beacon_quota_used=count)
        if not rows:
            rows = deployments.filter(beacon_quota_day=today, beacon_quota_used__lte=quota - count).update(
                beacon_quota_used=F("beacon_quota_used") + count
            )
    return None if rows else seconds_until_next_utc_day(now)


def quota_exhausted(deployment: WidgetDeployment, *, now) -> int | None:
    """Seconds to wait when the loaded row already shows today's quota used up (a cheap early refusal)."""
    quota = quota_of(deployment)
    if quota and deployment.beacon_quota_day == now.astimezone(UTC).date() and deployment.beacon_quota_used >= quota:
        return seconds_until_next_utc_day(now)
    return None


def quota_of(deployment: WidgetDeployment) -> int:
    return deployment.daily_beacon_quota or settings.TELEMETRY_DAILY_BEACON_QUOTA


def seconds_until_next_utc_day(now) -> int:
    midnight = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)
    return max(1, math.ceil((midnight - now).total_seconds()))


def adopt_deployment_ttl(conversation_ids: list[str], deployment: WidgetDeployment) -> int:
    """A conversation belongs to the deployment whose telemetry names it: it takes that session TTL."""
    ttl = deployment.session_ttl_seconds
    return Conversation.objects.filter(pk__in=conversation_ids).exclude(ttl_seconds=ttl).update(ttl_seconds=ttl)


# --- detectors -----------------------------------------------------------------------------------

DETECTOR_ACTOR = "system:diagnostics.tasks.run_detectors"
LIVENESS_ACTOR = "system:diagnostics.tasks.validate_liveness"
CONVERSATION_FAMILIES = (sessions, lifecycle, liveness, messages, context)
# Checked over time, not only when facts arrive (validate_liveness).
TIME_BASED_KINDS = (FindingKind.STALE_SESSION, FindingKind.GHOST_SESSION, FindingKind.SILENT_SOCKET)
# Conversations of the same customer or browser session are re-examined for these kinds only
# (whether one was open decides whether another was a duplicate), at most LINKED_LIMIT of them.
LINKED_KINDS = (FindingKind.DUPLICATE_CONVERSATION, FindingKind.CROSS_ORIGIN_RESET)
LINKED_LIMIT = 50


def run_detectors(
    conversation_ids: Iterable[str] | None = None,
    session_keys: Iterable[str] | None = None,
    *,
    kinds: Iterable[str] | None = None,
    linked: bool = True,
    now=None,
    actor: str = DETECTOR_ACTOR,
) -> Counter:
    """Run the detectors for these conversations and conversation-less sessions; reconcile findings.

    With ``linked``, conversations of the same customer or browser session are re-examined too:
    a late close of one changes whether another was a duplicate.
    """
    with _relaxed_commits():
        return _run_detectors(conversation_ids, session_keys, kinds=kinds, linked=linked, now=now, actor=actor)


@contextmanager
def _relaxed_commits():
    """Detector runs commit once per subject without waiting for the WAL flush (PostgreSQL).

    Findings are derived from stored facts: a crash can lose only the last fraction of a second
    of detector commits (each finding together with its audit row), and the next run recomputes
    them. Waiting for the disk made the commits most of a run's time (docs/performance.md,
    detectors). Inside a caller's transaction (tests, eager tasks) the setting is left alone.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def _run_detectors(conversation_ids, session_keys, *, kinds, linked, now, actor) -> Counter:
    now = now or timezone.now()
    kinds = tuple(kinds) if kinds is not None else None
    stats: Counter = Counter()
    ids = list(dict.fromkeys(conversation_ids or []))
    for start in range(0, len(ids), CHUNK_SIZE):
        _run_conversation_chunk(ids[start : start + CHUNK_SIZE], kinds, now, actor, stats)
    linked_kinds = _wanted(kinds, LINKED_KINDS)
    if linked and ids and linked_kinds:
        named = set(ids)
        others = [cid for cid in _linked_conversations(ids) if cid not in named]
        for start in range(0, len(others), CHUNK_SIZE):
            _run_conversation_chunk(others[start : start + CHUNK_SIZE], linked_kinds, now, actor, stats)
    keys = list(dict.fromkeys(session_keys or []))
    for start in range(0, len(keys), CHUNK_SIZE):
        _run_session_chunk(keys[start : start + CHUNK_SIZE], kinds, now, actor, stats)
    return stats


RUN_PENDING_DETECTORS = "diagnostics.tasks.run_pending_detectors"
# Conversations one run of run_pending_detectors claims at most (later marks wait for the next run).
PENDING_CLAIM_LIMIT = 20 * CHUNK_SIZE


def detect_after_commit(conversation_ids: Iterable[str]) -> None:
    """Mark conversations for the detectors, in the caller's transaction; one debounced run examines them.

    The mark is a row written with the change, so no change is missed whatever the timing of
    the run; a burst of webhooks for one conversation leaves one mark (docs/architecture.md,
    "Celery": run_detectors after ingest, debounced).
    """
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    PendingDetection.objects.bulk_create([PendingDetection(conversation_id=cid) for cid in ids], ignore_conflicts=True)
    enqueue_debounced_on_commit(RUN_PENDING_DETECTORS, delay=settings.CONSOLE_DETECTOR_DEBOUNCE_SECONDS)


def run_pending_detectors(*, limit: int = PENDING_CLAIM_LIMIT) -> Counter:
    """Claim the marked conversations (oldest first) and run the detectors for them, chunk by chunk."""
    stats: Counter = Counter()
    claimed = 0
    while claimed < limit:
        with transaction.atomic():
            # Claim by deleting: a concurrent run claims other rows (SKIP LOCKED) or none.
            ids = list(
                PendingDetection.objects.select_for_update(skip_locked=True)
                .order_by("queued_at")
                .values_list("conversation_id", flat=True)[: min(CHUNK_SIZE, limit - claimed)]
            )
            PendingDetection.objects.filter(conversation_id__in=ids).delete()
        if not ids:
            break
        claimed += len(ids)
        stats.update(run_detectors(ids))
    return stats


def _linked_conversations(ids: list[str]) -> list[str]:
    customer_keys = set(
        Conversation.objects.filter(pk__in=ids).exclude(customer_key="").values_list("customer_key", flat=True)
    )
    linked = []
    if customer_keys:
        linked += list(
            Conversation.objects.filter(customer_key__in=customer_keys)
            .order_by("-first_event_at")
            .values_list("id", flat=True)[:LINKED_LIMIT]
        )
    session_keys = set(
        TelemetryBeacon.objects.filter(conversation_id__in=ids, kind=BeaconKind.SESSION_INIT).values_list(
            "session_key", flat=True
        )
    )
    if session_keys:
        linked += list(
            TelemetryBeacon.objects.filter(session_key__in=session_keys, kind=BeaconKind.SESSION_INIT)
            .exclude(conversation_id="")
            .order_by("-sent_at")
            .values_list("conversation_id", flat=True)[:LINKED_LIMIT]
        )
    return list(dict.fromkeys(linked))


def _wanted(kinds: tuple | None, family_kinds: tuple) -> tuple:
    return family_kinds if kinds is None else tuple(kind for kind in family_kinds if kind in kinds)


def _run_conversation_chunk(ids: list[str], kinds, now, actor: str, stats: Counter) -> None:
    chunk = load_conversations(ids, now, kinds)
    subjects = [facts.subject for facts in chunk]
    open_findings = _open_findings(subjects)
    for facts in chunk:
        with transaction.atomic():
            _adopt_ttl(facts)
            _refresh_socket_health(facts)
            verdicts = {}
            for family in CONVERSATION_FAMILIES:
                if _wanted(kinds, family.KINDS):
                    verdicts.update(
                        {kind: v for kind, v in family.detect(facts).items() if kind in _wanted(kinds, family.KINDS)}
                    )
            record_verdicts(
                facts.subject,
                verdicts,
                open_findings.get(facts.subject, {}),
                now=now,
                actor=actor,
                stats=stats,
                conversation_id=facts.conversation_id,
            )
        stats["subjects"] += 1


def _run_session_chunk(keys: list[str], kinds, now, actor: str, stats: Counter) -> None:
    wanted = _wanted(kinds, liveness.SESSION_KINDS)
    if not wanted:
        return
    chunk = load_sessions(keys, now)
    open_findings = _open_findings([facts.subject for facts in chunk])
    for facts in chunk:
        with transaction.atomic():
            verdicts = {kind: v for kind, v in liveness.detect_session(facts).items() if kind in wanted}
            record_verdicts(
                facts.subject,
                verdicts,
                open_findings.get(facts.subject, {}),
                now=now,
                actor=actor,
                stats=stats,
                session_key=facts.session_key,
            )
        stats["subjects"] += 1


def _open_findings(subjects: list[str]) -> dict[str, dict[str, Finding]]:
    found: dict[str, dict[str, Finding]] = {}
    for finding in Finding.objects.filter(subject__in=subjects, status=FindingStatus.OPEN):
        found.setdefault(finding.subject, {})[finding.kind] = finding
    return found


def _adopt_ttl(facts) -> None:
    conversation, deployment = facts.conversation, facts.deployment
    if conversation is None or deployment is None or conversation.ttl_seconds == deployment.session_ttl_seconds:
        return
    adopt_deployment_ttl([conversation.pk], deployment)
    conversation.ttl_seconds = deployment.session_ttl_seconds


def _refresh_socket_health(facts) -> None:
    """Participants' socket-health fields follow from their socket.state beacons (and the clock)."""
    socket_beacons = facts.beacons_of(BeaconKind.SOCKET_STATE)
    if not socket_beacons or not facts.participants:
        return
    customers = [p for p in facts.participants if p.role == ParticipantRole.CUSTOMER]
    by_participant: dict[str, list] = {}
    for beacon in socket_beacons:
        # A beacon that names no participant is the widget's, i.e. the customer's.
        participant_id = beacon.participant_id or (customers[0].participant_id if len(customers) == 1 else "")
        by_participant.setdefault(participant_id, []).append(beacon)
    for participant in facts.participants:
        beacons = by_participant.get(participant.participant_id)
        if not beacons:
            continue
        health = liveness.socket_health(beacons, facts.thresholds, facts.now)
        changed = {name: value for name, value in health.items() if getattr(participant, name) != value}
        if changed:
            Participant.objects.filter(pk=participant.pk).update(**changed)
            for name, value in changed.items():
                setattr(participant, name, value)


def record_verdicts(
    subject: str,
    verdicts: dict,
    open_findings: dict[str, Finding],
    *,
    now,
    actor: str,
    stats: Counter,
    conversation_id: str = "",
    session_key: str = "",
) -> None:
    """Turn verdicts into findings: raise, update, or resolve; unchanged facts change nothing."""
    for kind, verdict in verdicts.items():
        finding = open_findings.get(kind)
        if isinstance(verdict, Clear):
            if finding is not None and close_finding(
                finding, status=FindingStatus.RESOLVED, actor=actor, note=verdict.note
            ):
                stats["resolved"] += 1
            continue
        remedy = REMEDIES[kind]
        values = {
            "severity": verdict.severity or remedy.severity,
            "evidence": verdict.evidence,
            "fingerprint": verdict.fingerprint,
            "count": verdict.count,
            "participant_id": verdict.participant_id[:200],
            "session_key": (verdict.session_key or session_key)[:200],
        }
        if finding is not None:
            if any(getattr(finding, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(finding, name, value)
                finding.last_seen = now
                finding.save(update_fields=[*values, "last_seen"])
                stats["updated"] += 1
            else:
                stats["unchanged"] += 1
        else:
            if Finding.objects.filter(kind=kind, subject=subject, fingerprint=verdict.fingerprint).exists():
                stats["unchanged"] += 1  # closed before for these very facts: not raised again
                continue
            finding = _raise(kind, subject, conversation_id, values, remedy, now)
            if finding is None:
                stats["unchanged"] += 1
                continue
            stats["raised"] += 1
        if verdict.resolved_note and close_finding(
            finding, status=FindingStatus.RESOLVED, actor=actor, note=verdict.resolved_note
        ):
            stats["resolved"] += 1


def _raise(kind: str, subject: str, conversation_id: str, values: dict, remedy, now) -> Finding | None:
    finding = Finding(
        kind=kind,
        subject=subject,
        conversation_id=conversation_id,
        remediation=remedy.text,
        guide_section=remedy.section,
        first_seen=now,
        last_seen=now,
        **values,
    )
    try:
        with transaction.atomic():
            finding.save(force_insert=True)
    except IntegrityError:
        return None  # a concurrent run raised it first (one open finding per kind and subject)
    events.finding_raised(finding)
    return finding


def run_everything(*, since=None, now=None, progress: Callable[[Counter], None] | None = None) -> Counter:
    """Every conversation (mirrored or only named by telemetry) and every conversation-less session.

    Streams ids in chunks (keyset pagination): memory stays flat whatever the database's size.
    """
    now = now or timezone.now()
    stats: Counter = Counter()
    for ids in conversation_id_chunks(since=since):
        stats.update(run_detectors(ids, linked=False, now=now))
        if progress:
            progress(stats)
    for keys in session_key_chunks(since=since):
        stats.update(run_detectors(session_keys=keys, now=now))
        if progress:
            progress(stats)
    return stats


def _keyset(queryset, field: str, size: int) -> Iterator[list[str]]:
    last = None
    while True:
        page = queryset.order_by(field)
        if last is not None:
            page = page.filter(**{f"{field}__gt": last})
        batch = list(page.values_list(field, flat=True).distinct()[:size])
        if not batch:
            return
        yield batch
        last = batch[-1]


def conversation_id_chunks(*, since=None, size: int | None = None) -> Iterator[list[str]]:
    """Ids of mirrored conversations, then of conversations only telemetry names (``since``: changed since)."""
    mirrored = Conversation.objects.all()
    beacons = TelemetryBeacon.objects.exclude(conversation_id="")
    if since is not None:
        mirrored = mirrored.filter(updated_at__gte=since)
        beacons = beacons.filter(received_at__gte=since)
    else:
        beacons = beacons.exclude(conversation_id__in=Conversation.objects.values("pk"))
    yield from _keyset(mirrored, "id", size or CHUNK_SIZE)
    yield from _keyset(beacons, "conversation_id", size or CHUNK_SIZE)


def session_key_chunks(*, since=None, size: int | None = None) -> Iterator[list[str]]:
    beacons = TelemetryBeacon.objects.filter(conversation_id="", kind=BeaconKind.SOCKET_STATE)
    if since is not None:
        beacons = beacons.filter(received_at__gte=since)
    yield from _keyset(beacons, "session_key", size or CHUNK_SIZE)


def validate_liveness(*, now=None) -> Counter:
    """Time-based checks: stale sessions, ghost sessions and silent sockets become true as time passes.

    Examines open conversations past the shortest TTL, conversations and sessions whose socket
    telemetry arrived within the liveness window, and every subject with such an open finding.
    """
    now = now or timezone.now()
    window = liveness_window()
    recent = TelemetryBeacon.objects.filter(kind=BeaconKind.SOCKET_STATE, received_at__gte=now - window)
    open_time_based = Finding.objects.filter(status=FindingStatus.OPEN, kind__in=TIME_BASED_KINDS)
    shortest_ttl = min(
        [settings.CONSOLE_SESSION_TTL_SECONDS]
        + [
            ttl
            for ttl in [Conversation.objects.filter(state__in=OPEN_STATES).aggregate(m=Min("ttl_seconds"))["m"]]
            if ttl
        ]
    )
    stale = Conversation.objects.filter(
        state__in=OPEN_STATES, last_activity_at__lt=now - timedelta(seconds=shortest_ttl)
    ).values_list("id", flat=True)
    ids = set(stale.iterator())
    ids.update(recent.exclude(conversation_id="").values_list("conversation_id", flat=True).distinct())
    ids.update(open_time_based.exclude(conversation_id="").values_list("conversation_id", flat=True))
    keys = set(recent.filter(conversation_id="").values_list("session_key", flat=True).distinct())
    keys.update(
        open_time_based.filter(conversation_id="").exclude(session_key="").values_list("session_key", flat=True)
    )
    return run_detectors(sorted(ids), sorted(keys), kinds=TIME_BASED_KINDS, linked=False, now=now, actor=LIVENESS_ACTOR)


def liveness_window() -> timedelta:
    """How far back socket telemetry can still turn into a ghost or a silent socket by time alone."""
    longest_grace = max(
        [settings.CONSOLE_GHOST_GRACE_SECONDS]
        + list(WidgetDeployment.objects.exclude(ghost_grace_seconds=None).values_list("ghost_grace_seconds", flat=True))
    )
    return 2 * timedelta(seconds=longest_grace + settings.CONSOLE_HEARTBEAT_TIMEOUT_SECONDS)


# --- deployments ---------------------------------------------------------------------------------


def create_deployment(
    *, name: str, origins: list[str], ttl_seconds: int | None = None, actor: str, actor_user=None, **thresholds
) -> WidgetDeployment:
    """A widget deployment with its public key; origins must be exact origins (scheme://host[:port])."""
    normalized = []
    for origin in origins:
        value = normalize_origin(origin)
        if not value:
            raise ValueError(f"{origin!r} is not an origin such as https://www.example.com")
        if value not in normalized:
            normalized.append(value)
    with transaction.atomic():
        deployment = WidgetDeployment.objects.create(
            name=name, allowed_origins=normalized, session_ttl_seconds=ttl_seconds, **thresholds
        )
        AuditEntry.objects.create(
            actor=actor,
            actor_user=actor_user,
            action="deployment.created",
            target_type="deployment",
            target_id=str(deployment.pk),
            after={"name": name, "allowedOrigins": normalized, "sessionTtlSeconds": ttl_seconds, **thresholds},
        )
    return deployment
