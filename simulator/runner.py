"""Running a simulation: scenarios on a story clock, traffic over HTTP, progress, and the injection summary.

Story time runs ``speed`` times faster than the wall clock. Each scenario's timestamps
are anchored so that nothing is ever stamped in the future: at speed 1 they are the
real time, at higher speeds a scenario's story is placed just before the moment it is
sent (a conversation that lasts two minutes of story is stamped within the last two
minutes), which keeps every healthy conversation inside the console's TTL and ghost
grace period whatever the speed.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conversations.ingest.canonical import format_instant
from simulator.delivery import DeliveryStats, Perturbation, TelemetrySender, WebhookSender
from simulator.formats import Secrets, render
from simulator.plan import ScenarioSpec, build_plan
from simulator.platform import ConversationClosed, Platform, SimConversation
from simulator.platform_api import Credentials, PlatformAPI
from simulator.scenarios import FAULT_KINDS, SOURCES
from simulator.script import ConversationPlan, Script, WidgetPlan


class SimulationError(Exception):
    """The run cannot go on (e.g. the console refuses every delivery)."""


@dataclass
class SimulationConfig:
    target: str
    secrets: Secrets
    deployment_key: str
    seed: int = 0
    conversations: int = 40
    rate: float = 0.5
    duration: float = 0.0
    faults: tuple[str, ...] = FAULT_KINDS
    fault_ratio: float = 0.3
    sources: tuple[str, ...] = SOURCES
    speed: float = 1.0
    telemetry_url: str = ""
    platform_host: str = "127.0.0.1"
    platform_port: int = 0
    credentials: Credentials = field(default_factory=Credentials)
    perturbation: Perturbation = field(default_factory=Perturbation)
    session_ttl: float = 900
    ghost_grace: float = 300
    progress_interval: float = 5.0
    summary_path: Path | None = None
    workers: int = 4
    telemetry_flush: float = 0.5
    drain_timeout: float = 60.0

    @property
    def telemetry_endpoint(self) -> str:
        return self.telemetry_url or self.target.rstrip("/") + "/telemetry/"


class ScenarioRun:
    """One running scenario: its script, its clock, and the operations its steps call."""

    def __init__(self, simulation: Simulation, spec: ScenarioSpec, script: Script, wall_start: float):
        self.simulation, self.spec, self.script = simulation, spec, script
        self.steps = script.ordered_steps()
        self.position = 0
        self.wall_start = wall_start
        speed = simulation.config.speed
        self.anchor = datetime.now(UTC) - timedelta(seconds=script.span * (1 - 1 / speed))
        self.closed_by_platform: set[str] = set()
        self.told_closed: set[tuple[str, str]] = set()

    @property
    def platform(self) -> Platform:
        return self.simulation.platform

    def next_due(self) -> float | None:
        if self.position >= len(self.steps):
            return None
        return self.wall_start + self.steps[self.position].send / self.simulation.config.speed

    def run_next(self) -> None:
        step = self.steps[self.position]
        self.position += 1
        try:
            step.run(self)
        except ConversationGone:
            pass
        except Exception as error:  # noqa: BLE001 - a broken step must not stop the other scenarios
            self.simulation.note_problem(
                f"scenario {self.spec.index} step {step.label!r}: {type(error).__name__}: {error}"
            )

    # --- what steps call ---------------------------------------------------------------------------

    def time(self, offset: float) -> datetime:
        return self.anchor + timedelta(seconds=offset)

    @staticmethod
    def iso(moment: datetime) -> str:
        return format_instant(moment)

    def start(self, plan: ConversationPlan, when: datetime) -> None:
        with self.platform.lock:
            changes = self.platform.start(
                conversation_id=plan.id,
                source=plan.source,
                scenario=self.spec.index,
                at=when,
                tenant=plan.tenant,
                channel="web-messaging",
                customer_key=plan.customer_key,
                customer_name=plan.customer_name,
                customer_id=plan.customer_id,
                queue_key=plan.queue_key,
                routing=plan.routing,
                custom=plan.custom,
                rng=random.Random(plan.rng_seed),
            )
            self._emit(plan.id, changes, after=plan.follows)
        self.simulation.started(self.spec, plan)

    def op(self, plan: ConversationPlan, name: str, when: datetime, *, lost: bool = False, **arguments) -> None:
        with self.platform.lock:
            if plan.id in self.closed_by_platform and not arguments.get("force"):
                raise ConversationGone
            try:
                changes = getattr(self.platform, name)(plan.id, when, **arguments)
            except ConversationClosed:
                # Closed from outside the script (the console force-closed it): the rest of
                # this conversation's story does not happen.
                self.closed_by_platform.add(plan.id)
                raise ConversationGone from None
            self._emit(plan.id, changes, lost=lost)

    def _emit(self, conversation_id: str, changes: list, *, lost: bool = False, after: str = "") -> None:
        conversation = self.platform.get(conversation_id)
        deliveries = render(conversation, changes, self.simulation.config.secrets)
        for delivery in deliveries:
            delivery.reorderable = self.script.healthy
            delivery.lost = lost
            delivery.after = after
        self.simulation.webhooks.submit(deliveries)

    def beacons(self, widget: WidgetPlan, beacons: list[tuple[str, float, dict]]) -> None:
        made = []
        for kind, occurred, fields in beacons:
            conversation_id = fields.get("conversationId")
            if conversation_id and self._closed_from_outside(widget, conversation_id):
                continue
            made.append(
                {
                    "id": widget.next_id(),
                    "kind": kind,
                    "sentAt": self.iso(self.time(occurred)),
                    "sessionKey": widget.session_key,
                    **fields,
                }
            )
        if not made:
            return
        self.simulation.telemetry.submit(widget.origin, made)
        self.simulation.count("beacons_made", len(made))

    def injected(self, kind: str, plan: ConversationPlan) -> None:
        self.simulation.injected(self.spec, kind, plan)

    def _closed_from_outside(self, widget: WidgetPlan, conversation_id: str) -> bool:
        """A conversation the console closed through the platform API: its widget saw the socket close.

        The widget reports that close once and then stops talking about the conversation
        (the scripted story of a conversation the console force-closed does not go on).
        """
        conversation = self.platform.get(conversation_id)
        if conversation is None or conversation.closed_by != "api":
            return False
        if (widget.session_key, conversation_id) not in self.told_closed:
            self.told_closed.add((widget.session_key, conversation_id))
            beacon = {
                "id": widget.next_id(),
                "kind": "socket.state",
                "sentAt": self.iso(datetime.now(UTC)),
                "sessionKey": widget.session_key,
                "conversationId": conversation_id,
                "participantId": conversation.customer_id,
                "event": "close",
                "readyState": 3,
                "closeCode": 1000,
            }
            self.simulation.telemetry.submit(widget.origin, [beacon])
        return True


class ConversationGone(Exception):
    """The platform closed the conversation under the script (a console force-close)."""


class Simulation:
    def __init__(self, config: SimulationConfig, *, out: Callable[[str], None] = print):
        self.config = config
        self.out = out
        self.platform = Platform()
        self.stats = DeliveryStats()
        self._lock = threading.Lock()
        self._faults: list[tuple[int, int, str, str]] = []
        self._healthy: list[tuple[int, int, str]] = []
        self._order = itertools.count()
        self._scenarios = Counter()
        self._stop = threading.Event()
        self._started = False
        self.stop_reason = ""
        self.webhooks: WebhookSender | None = None
        self.telemetry: TelemetrySender | None = None
        self.api: PlatformAPI | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    def start_services(self) -> None:
        config = self.config
        self.api = PlatformAPI(
            self.platform,
            credentials=config.credentials,
            on_changes=self._platform_changes,
            host=config.platform_host,
            port=config.platform_port,
        )
        self.api.start()
        self.webhooks = WebhookSender(
            config.target,
            stats=self.stats,
            perturbation=config.perturbation,
            workers=config.workers,
            seed=config.seed,
            # A lost acknowledgement is noticed after the platform's timeout, on the story clock.
            resend_delay=max(0.01, 5.0 / config.speed),
        )
        self.telemetry = TelemetrySender(
            config.telemetry_endpoint, config.deployment_key, stats=self.stats, flush_interval=config.telemetry_flush
        )
        self._started = True

    def close(self) -> None:
        for service in (self.webhooks, self.telemetry):
            if service:
                service.close()
        if self.api:
            self.api.stop()

    def stop(self, reason: str = "interrupted") -> None:
        """Ask a running ``run`` to finish (thread-safe; used by signal handlers)."""
        self.stop_reason = self.stop_reason or reason
        self._stop.set()

    def _platform_changes(self, conversation: SimConversation, changes: list) -> None:
        deliveries = render(conversation, changes, self.config.secrets)
        for delivery in deliveries:
            delivery.reorderable = False
        self.webhooks.submit(deliveries)

    # --- the run ------------------------------------------------------------------------------------------

    def run(self) -> dict:
        """Run until the scenarios are done, the duration is over, or ``stop`` is called; returns the summary."""
        if not self._started:
            self.start_services()
        config = self.config
        plan = build_plan(
            config.seed,
            kinds=config.faults,
            sources=config.sources,
            fault_ratio=config.fault_ratio,
            rate=config.rate,
            limit=config.conversations,
        )
        upcoming = next(plan, None)
        wall0 = time.monotonic()
        deadline = wall0 + config.duration if config.duration else None
        next_progress = wall0 + config.progress_interval
        due: list[tuple[float, int, ScenarioRun]] = []
        counter = itertools.count()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if deadline and now >= deadline:
                    self.stop_reason = "duration reached"
                    break
                self._check_console()
                while upcoming and wall0 + upcoming.start / config.speed <= now:
                    run = self._begin(upcoming, time.monotonic())
                    if run.next_due() is not None:
                        heapq.heappush(due, (run.next_due(), next(counter), run))
                    upcoming = next(plan, None)
                while due and due[0][0] <= now:
                    _, _, run = heapq.heappop(due)
                    run.run_next()
                    if run.next_due() is not None:
                        heapq.heappush(due, (run.next_due(), next(counter), run))
                if not due and upcoming is None:
                    self.stop_reason = "all scenarios done"
                    break
                if now >= next_progress:
                    self.progress(now - wall0)
                    next_progress = now + config.progress_interval
                wake = min(
                    due[0][0] if due else float("inf"),
                    wall0 + upcoming.start / config.speed if upcoming else float("inf"),
                    next_progress,
                    deadline or float("inf"),
                )
                self._stop.wait(max(0.0, min(wake - time.monotonic(), 0.5)))
        except KeyboardInterrupt:
            self.stop("interrupted")
        self._drain()
        summary = self.summary()
        self.write_summary(summary)
        self.progress(time.monotonic() - wall0, final=True)
        return summary

    def _begin(self, spec: ScenarioSpec, wall_start: float) -> ScenarioRun:
        script = spec.script(self.config.seed, session_ttl=self.config.session_ttl, ghost_grace=self.config.ghost_grace)
        with self._lock:
            self._scenarios["faulty" if spec.kind else "healthy"] += 1
        return ScenarioRun(self, spec, script, wall_start)

    def _drain(self) -> None:
        timeout = self.config.drain_timeout if not self._stop.is_set() or self.stop_reason != "interrupted" else 5.0
        deadline = time.monotonic() + timeout
        for sender in (self.webhooks, self.telemetry):
            if sender and not sender.drain(max(0.1, deadline - time.monotonic())):
                self.note_problem(f"{sender.pending()} deliveries still pending at the end of the run")
        # Webhooks handed back by a late platform-API close can follow the telemetry drain.
        if self.webhooks:
            self.webhooks.drain(max(0.1, deadline - time.monotonic()))

    def _check_console(self) -> None:
        counts, _, problems = self.stats.snapshot()
        refused = counts["webhooks_refused"] + counts["webhooks_failed"]
        if not counts["webhooks_delivered"] and refused >= 5:
            raise SimulationError(
                f"the console at {self.config.target} accepted none of the first {refused} webhooks; last problem: "
                f"{problems[-1] if problems else 'unknown'}"
            )

    # --- bookkeeping -----------------------------------------------------------------------------------------

    def started(self, spec: ScenarioSpec, plan: ConversationPlan) -> None:
        if spec.kind is None:
            with self._lock:
                self._healthy.append((spec.index, next(self._order), plan.id))

    def injected(self, spec: ScenarioSpec, kind: str, plan: ConversationPlan) -> None:
        with self._lock:
            self._faults.append((spec.index, next(self._order), kind, plan.id))

    def count(self, name: str, amount: int = 1) -> None:
        self.stats.add(name, amount)

    def note_problem(self, text: str) -> None:
        self.stats.problem(text)

    def summary(self) -> dict:
        """The injection summary (docs/architecture.md, "Simulator injection summary")."""
        with self._lock:
            faults = [{"kind": kind, "conversationId": cid} for _, _, kind, cid in sorted(self._faults)]
            healthy = [cid for _, _, cid in sorted(self._healthy)]
        return {"seed": self.config.seed, "faults": faults, "healthy": healthy}

    def write_summary(self, summary: dict | None = None) -> None:
        path = self.config.summary_path
        if not path:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(summary or self.summary(), indent=2) + "\n")
        temporary.replace(path)

    def progress(self, elapsed: float, *, final: bool = False) -> None:
        counts, outcomes, problems = self.stats.snapshot()
        with self._lock:
            scenarios = Counter(self._scenarios)
            injected = Counter(kind for _, _, kind, _ in self._faults)
        with self.platform.lock:
            conversations = list(self.platform.conversations.values())
        open_now = sum(1 for c in conversations if c.is_open)
        outcome_text = ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items())) or "none yet"
        line = (
            f"[{elapsed:7.1f}s] scenarios {scenarios['healthy'] + scenarios['faulty']} "
            f"({scenarios['healthy']} healthy, {scenarios['faulty']} with a fault), "
            f"conversations {len(conversations)} ({open_now} open) | "
            f"webhooks {counts['webhooks_delivered']} delivered (answers: {outcome_text}), "
            f"{counts['webhooks_duplicated']} duplicated, {counts['webhooks_retried']} retried, "
            f"{counts['webhooks_reordered']} out of order, {counts['webhooks_lost']} lost on purpose, "
            f"{counts['webhooks_refused'] + counts['webhooks_failed']} failed | "
            f"beacons {counts['beacons_sent']} sent, {counts['beacons_accepted']} accepted, "
            f"{counts['beacons_failed']} failed | faults injected {sum(injected.values())}"
        )
        self.out(line)
        if self.config.summary_path and not final:
            self.write_summary()
        if final:
            self._final_report(injected, problems)

    def _final_report(self, injected: Counter, problems: list[str]) -> None:
        summary = self.summary()
        self.out(f"Simulation finished ({self.stop_reason or 'stopped'}); seed {self.config.seed}.")
        by_kind: dict[str, list[str]] = {}
        for fault in summary["faults"]:
            by_kind.setdefault(fault["kind"], []).append(fault["conversationId"])
        if by_kind:
            self.out("Injected faults:")
            for kind in sorted(by_kind):
                ids = by_kind[kind]
                shown = ", ".join(ids[:4]) + (f", ... ({len(ids) - 4} more)" if len(ids) > 4 else "")
                self.out(f"  {kind:<28} {len(ids):>3}  {shown}")
        self.out(f"Healthy conversations: {len(summary['healthy'])}")
        if self.api:
            calls = ", ".join(f"{name} {count}" for name, count in sorted(self.api.calls.items())) or "none"
            self.out(f"Platform API calls from the console: {calls}")
        for problem in problems[-5:]:
            self.out(f"  problem: {problem}")
        if self.config.summary_path:
            self.out(f"Injection summary written to {self.config.summary_path}")
