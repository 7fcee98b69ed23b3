"""Delivering webhooks and telemetry to the console over real HTTP, the way platforms and widgets do.

Webhooks: one ordered queue per conversation (a platform delivers a conversation's events
in order, one at a time), several conversations in parallel. Like a real platform the
sender retries on a connection error, a timeout, 408, 429 (honouring Retry-After) and
5xx, with exponential backoff, and never on another 4xx (the console refused it for good:
counted and reported). On top of that it produces the at-least-once behaviour a console
must absorb, at the configured rates:

* duplicate: the same signed request sent twice in a row;
* retry after a lost acknowledgement: the console answered, the platform did not hear it
  and sends the event again after a backoff;
* out of order: an event swapped with the next one of the same conversation (only for
  deliveries marked reorderable).

Across conversations deliveries run in parallel, except that a delivery marked ``after`` waits
until the conversation it names has nothing left to deliver: a returning customer's new
conversation starts seconds after the previous one closed, and at the test speeds (hundreds of
story seconds per second) those seconds would shrink below one delivery's round trip.

Telemetry: beacons are batched per page origin (one ``Origin`` header per request, at most
100 beacons) and posted to ``/telemetry/`` with the deployment key.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import httpx

from simulator.formats import Delivery

log = logging.getLogger(__name__)

USER_AGENT = "conversation-console-simulator/1.0"
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_BEACONS_PER_REQUEST = 100


@dataclass
class Perturbation:
    duplicate_rate: float = 0.04
    lost_ack_rate: float = 0.04
    reorder_rate: float = 0.08


@dataclass
class DeliveryStats:
    """Counters shown in progress lines; ``problems`` keeps the last distinct refusals."""

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    counts: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    problems: deque = field(default_factory=lambda: deque(maxlen=20))

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            self.counts[name] += amount

    def outcome(self, name: str) -> None:
        with self.lock:
            self.outcomes[name] += 1

    def problem(self, text: str) -> None:
        with self.lock:
            if text not in self.problems:
                self.problems.append(text)
                log.warning("%s", text)

    def snapshot(self) -> tuple[Counter, Counter, list[str]]:
        with self.lock:
            return Counter(self.counts), Counter(self.outcomes), list(self.problems)


class WebhookSender:
    def __init__(
        self,
        base_url: str,
        *,
        stats: DeliveryStats,
        perturbation: Perturbation | None = None,
        workers: int = 4,
        max_attempts: int = 6,
        backoff_seconds: float = 0.25,
        max_backoff_seconds: float = 8.0,
        resend_delay: float = 0.5,
        timeout: float = 15.0,
        seed: int = 0,
    ):
        self.base_url = base_url.rstrip("/")
        self.stats = stats
        self.perturbation = perturbation or Perturbation()
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        # How long the platform waits for an answer it never hears before sending again.
        self.resend_delay = resend_delay
        # Perturbation choices depend on thread timing anyway; they never change what the
        # platform did, only how it was delivered, so they do not touch the scenario seeds.
        self._rng = random.Random(seed ^ 0x5EED)
        self._queues: dict[str, deque[Delivery]] = {}
        self._ready: deque[str] = deque()
        self._busy: set[str] = set()
        # Conversations whose next delivery waits for another conversation's: {that id: [waiting ids]}.
        self._waiting: dict[str, list[str]] = {}
        self._held: set[str] = set()
        self._pending = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._client = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._threads = [
            threading.Thread(target=self._work, name=f"sim-webhooks-{n}", daemon=True) for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- queueing ---------------------------------------------------------------------------

    def submit(self, deliveries: list[Delivery]) -> None:
        with self._cond:
            for delivery in deliveries:
                if delivery.lost:
                    self.stats.add("webhooks_lost")
                    continue
                queue = self._queues.setdefault(delivery.conversation_id, deque())
                queue.append(delivery)
                self._pending += 1
                waiting = delivery.conversation_id in self._held or delivery.conversation_id in self._ready
                if delivery.conversation_id not in self._busy and not waiting:
                    self._ready.append(delivery.conversation_id)
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return self._pending

    def drain(self, timeout: float) -> bool:
        """Wait until everything submitted was delivered (or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.2))
        return True

    def close(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self._client.close()

    def _take(self) -> tuple[str, Delivery] | None:
        with self._cond:
            while True:
                while not self._ready:
                    if self._stopping.is_set():
                        return None
                    self._cond.wait(0.5)
                conversation_id = self._ready.popleft()
                queue = self._queues[conversation_id]
                after = queue[0].after
                if not (after and (after in self._queues or after in self._busy)):
                    break
                # Held until the conversation it follows has nothing left to deliver (released in _done).
                self._waiting.setdefault(after, []).append(conversation_id)
                self._held.add(conversation_id)
            delivery = queue.popleft()
            if (
                delivery.reorderable
                and queue
                and queue[0].reorderable
                and self._rng.random() < self.perturbation.reorder_rate
            ):
                # Out of order: the next event of this conversation overtakes this one.
                following = queue.popleft()
                queue.appendleft(delivery)
                delivery = following
                self.stats.add("webhooks_reordered")
            self._busy.add(conversation_id)
            return conversation_id, delivery

    def _done(self, conversation_id: str) -> None:
        with self._cond:
            self._busy.discard(conversation_id)
            self._pending -= 1
            queue = self._queues.get(conversation_id)
            if queue:
                self._ready.append(conversation_id)
            elif queue is not None:
                del self._queues[conversation_id]
                for waiting in self._waiting.pop(conversation_id, ()):
                    self._held.discard(waiting)
                    self._ready.append(waiting)
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            conversation_id, delivery = taken
            try:
                self._deliver(delivery)
            except Exception as error:  # noqa: BLE001 - one bad delivery must not stop the fleet
                self.stats.problem(f"webhook {delivery.label} {delivery.event_id}: {type(error).__name__}: {error}")
                self.stats.add("webhooks_failed")
            finally:
                self._done(conversation_id)

    # --- sending ----------------------------------------------------------------------------

    def _deliver(self, delivery: Delivery) -> None:
        if not self._send_with_retries(delivery):
            return
        self.stats.add("webhooks_delivered")
        if self._rng.random() < self.perturbation.duplicate_rate:
            self.stats.add("webhooks_duplicated")
            self._send_with_retries(delivery)
        if self._rng.random() < self.perturbation.lost_ack_rate:
            # The console answered but the platform did not hear it: it retries after a backoff.
            self.stats.add("webhooks_retried")
            self._sleep(self.resend_delay * (1 + self._rng.random()))
            self._send_with_retries(delivery)

    def _send_with_retries(self, delivery: Delivery) -> bool:
        url = self.base_url + delivery.path
        for attempt in range(1, self.max_attempts + 1):
            if self._stopping.is_set():
                self.stats.add("webhooks_abandoned")
                return False
            wait = None
            try:
                response = self._client.post(url, content=delivery.body, headers=delivery.headers_for(int(time.time())))
            except httpx.HTTPError as error:
                reason = f"{type(error).__name__}: {error}"
                wait = self._backoff(attempt)
            else:
                self.stats.add("webhook_requests")
                if response.is_success:
                    self.stats.outcome(_status_of(response))
                    return True
                reason = f"HTTP {response.status_code} {_detail(response)}"
                if response.status_code not in RETRYABLE_STATUSES:
                    self.stats.add("webhooks_refused")
                    self.stats.problem(f"console refused {delivery.label} {delivery.event_id}: {reason}")
                    return False
                wait = _retry_after(response) or self._backoff(attempt)
            if attempt < self.max_attempts:
                self.stats.add("webhook_attempts_retried")
                self._sleep(wait)
        self.stats.add("webhooks_failed")
        self.stats.problem(
            f"gave up on {delivery.label} {delivery.event_id} after {self.max_attempts} attempts: {reason}"
        )
        return False

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)) * (
            0.75 + self._rng.random() / 2
        )

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _status_of(response: httpx.Response) -> str:
    try:
        return str(response.json().get("status", "ok"))
    except ValueError:
        return "ok"


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return "(an HTML page)" if text.lower().startswith(("<!doctype", "<html")) else text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return min(10.0, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return None


class TelemetrySender:
    """Batches beacons per origin and posts them to the console's telemetry endpoint."""

    def __init__(
        self,
        url: str,
        deployment_key: str,
        *,
        stats: DeliveryStats,
        flush_interval: float = 0.5,
        max_attempts: int = 4,
        timeout: float = 15.0,
    ):
        self.url = url
        self.deployment_key = deployment_key
        self.stats = stats
        self.flush_interval = flush_interval
        self.max_attempts = max_attempts
        self._pending: list[tuple[str, dict]] = []
        self._in_flight = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._client = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._thread = threading.Thread(target=self._loop, name="sim-telemetry", daemon=True)
        self._thread.start()

    def submit(self, origin: str, beacons: list[dict]) -> None:
        """Queue beacons made together (they go out in the same request)."""
        with self._cond:
            self._pending.extend((origin, beacon) for beacon in beacons)
            if len(self._pending) >= MAX_BEACONS_PER_REQUEST:
                self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending) + self._in_flight

    def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._pending or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def close(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=10)
        self._client.close()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    if self._stopping.is_set():
                        return
                    self._cond.wait(self.flush_interval)
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
            try:
                if batch:
                    self._flush(batch)
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()
            if not self._stopping.is_set():
                self._stopping.wait(self.flush_interval)

    def _flush(self, batch: list[tuple[str, dict]]) -> None:
        by_origin: dict[str, list[dict]] = {}
        for origin, beacon in batch:
            by_origin.setdefault(origin, []).append(beacon)
        for origin, beacons in by_origin.items():
            beacons.sort(key=lambda beacon: beacon["sentAt"])
            for start in range(0, len(beacons), MAX_BEACONS_PER_REQUEST):
                self._post(origin, beacons[start : start + MAX_BEACONS_PER_REQUEST])

    def _post(self, origin: str, beacons: list[dict]) -> None:
        headers = {"Origin": origin, "X-Deployment-Key": self.deployment_key, "Content-Type": "application/json"}
        body = {"beacons": beacons}
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self._client.post(self.url, json=body, headers=headers)
            except httpx.HTTPError as error:
                reason = f"{type(error).__name__}: {error}"
            else:
                self.stats.add("telemetry_requests")
                if response.status_code == 202 or response.is_success:
                    self._count(response, len(beacons))
                    return
                reason = f"HTTP {response.status_code} {_detail(response)}"
                if response.status_code not in RETRYABLE_STATUSES:
                    break
            if attempt < self.max_attempts and not self._stopping.is_set():
                self._stopping.wait(min(4.0, 0.25 * 2 ** (attempt - 1)))
        self.stats.add("beacons_failed", len(beacons))
        self.stats.problem(f"telemetry not accepted by {self.url}: {reason}")

    def _count(self, response: httpx.Response, sent: int) -> None:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        self.stats.add("beacons_sent", sent)
        self.stats.add("beacons_accepted", int(answer.get("accepted", 0) or 0))
        self.stats.add("beacons_duplicates", int(answer.get("duplicates", 0) or 0))
        errors = answer.get("errors") or []
        if errors:
            self.stats.add("beacons_rejected", len(errors))
            self.stats.problem(f"telemetry item errors from {self.url}: {errors[:3]}")
