"""The small language scenarios are written in: timed steps on the platform and in the customer's widget.

A ``Script`` is built before the scenario runs, from the scenario's own seeded generator,
so the conversations, customers, message ids and the faults it injects follow from the
seed alone. Each step has a *send* time (story seconds after the scenario starts, when the
runner performs it) and its operations say when they *happened* (``occurred``), which
may be earlier: a step at 0 s can replay a conversation that happened 25 minutes ago
(stale sessions, ghost sessions past their grace period) in one go.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.platform import QUEUES, random_uuid, stable_uuid


@dataclass(frozen=True)
class Brand:
    slug: str
    name: str
    origins: tuple[str, ...]

    def tenant_for(self, source: str) -> str:
        if source == "genesys":
            return stable_uuid(f"genesys-division:{self.slug}")
        if source == "cxone":
            return stable_uuid(f"cxone-tenant:{self.slug}")
        return self.slug


BRANDS = (
    Brand("acme-corp", "Acme Corp", ("https://www.acme.example", "https://app.acme.example")),
    Brand("globex", "Globex", ("https://shop.globex.example", "https://help.globex.example")),
    Brand("initech", "Initech", ("https://support.initech.example", "https://portal.initech.example")),
)
# Every page origin the simulated widgets report from: the demo deployment's allowed origins.
ORIGINS = tuple(origin for brand in BRANDS for origin in brand.origins)
# Storage kinds a widget may keep the conversationId in (guide, Step 3 and Edge case 2).
STORAGES = ("local", "session", "cookie", "server")

FIRST_NAMES = ("Jane", "Ravi", "Sofia", "Liam", "Mei", "Noah", "Aisha", "Lucas", "Elena", "Kwame", "Hana", "Mateo")
LAST_NAMES = ("Customer", "Patel", "Rossi", "Murphy", "Chen", "Schmidt", "Khan", "Silva", "Novak", "Mensah")
INTENTS = ("billing", "refund", "technical", "delivery", "account", "upgrade")
TIERS = ("gold", "silver", "bronze")

CUSTOMER_LINES = (
    "Hi, I need help with my last invoice.",
    "I was charged twice this month.",
    "Can you check the status of my order?",
    "The app keeps logging me out.",
    "I would like to update my payment method.",
    "My delivery has not arrived yet.",
    "How do I change the email on my account?",
    "Is there a discount for the annual plan?",
    "I cannot reset my password.",
    "The tracking number does not work.",
    "Thanks, that helps.",
    "Could you send me a confirmation by email?",
    "Yes, that is the right account.",
    "One more question about the contract.",
)
AGENT_LINES = (
    "Hello, thanks for reaching out. Let me look into that.",
    "I can see your account here.",
    "Could you confirm the email address on the account?",
    "Thanks, one moment while I check.",
    "I have corrected that for you.",
    "Is there anything else I can help with?",
    "I am transferring you to a colleague who can help with this.",
    "You will receive a confirmation shortly.",
    "I have opened a ticket for our technical team.",
    "The refund will show within five working days.",
    "Are you still there?",
    "Your order is on its way.",
)
PCI_LINE = "My card number is 4111 1111 1111 1111, can you update it?"


@dataclass
class ConversationPlan:
    """A conversation the scenario will start, with everything decided up front from the seed."""

    slot: int
    id: str
    source: str
    brand: Brand
    customer_key: str
    customer_name: str
    customer_id: str
    queue_key: str
    routing: dict
    custom: dict
    rng_seed: str
    # (message id, sender, occurred) in the order they are said.
    messages: list[tuple[str, str, float]] = field(default_factory=list)
    # The conversation whose webhooks are delivered before this one's start (a returning customer).
    follows: str = ""

    @property
    def tenant(self) -> str:
        return self.brand.tenant_for(self.source)

    @property
    def has_message_events(self) -> bool:
        """Genesys detail events carry no messages: the console mirrors none for Genesys."""
        return self.source != "genesys"


@dataclass
class WidgetPlan:
    """One browser profile on one page origin: its sessionKey is per profile and origin."""

    session_key: str
    origin: str
    storage: str
    down: list[tuple[float, float]] = field(default_factory=list)  # socket not open (no heartbeats)
    sent: int = 0

    def next_id(self) -> str:
        self.sent += 1
        return f"{self.session_key}-{self.sent:04d}"


@dataclass
class Step:
    send: float
    order: int
    label: str
    run: Callable


class Script:
    """Steps of one scenario; helpers append steps whose closures run against the runtime context."""

    def __init__(
        self,
        *,
        seed: int,
        index: int,
        source: str,
        kind: str | None,
        variant: str,
        session_ttl: float = 900,
        ghost_grace: float = 300,
    ):
        self.seed, self.index, self.source, self.kind, self.variant = seed, index, source, kind, variant
        # The console's thresholds the time-based faults must exceed (TTL and ghost grace period).
        self.session_ttl, self.ghost_grace = session_ttl, ghost_grace
        self.rng = random.Random(f"scenario:{seed}:{index}")
        self.steps: list[Step] = []
        self.conversations: list[ConversationPlan] = []
        self.widgets: list[WidgetPlan] = []
        self._customer_lines = list(CUSTOMER_LINES)
        self._agent_lines = list(AGENT_LINES)
        self.rng.shuffle(self._customer_lines)
        self.rng.shuffle(self._agent_lines)

    @property
    def healthy(self) -> bool:
        return self.kind is None

    def add(self, send: float, label: str, run: Callable) -> None:
        self.steps.append(Step(send, len(self.steps), label, run))

    def ordered_steps(self) -> list[Step]:
        return sorted(self.steps, key=lambda step: (step.send, step.order))

    @property
    def span(self) -> float:
        return max((step.send for step in self.steps), default=0.0)

    # --- who and where ------------------------------------------------------------------------

    def conversation(self, *, same_customer_as: ConversationPlan | None = None, source: str | None = None):
        rng, source = self.rng, source or self.source
        brand = same_customer_as.brand if same_customer_as else rng.choice(BRANDS)
        if source == "native":
            conversation_id = f"sim-{rng.getrandbits(48):012x}"
            customer_id = f"p-{rng.getrandbits(40):010x}"
            customer_key = f"cust-{rng.getrandbits(40):010x}"
        elif source == "genesys":
            conversation_id, customer_id, customer_key = random_uuid(rng), random_uuid(rng), random_uuid(rng)
        else:
            conversation_id = str(rng.randrange(10**11, 10**12))
            customer_id = f"chat_{rng.getrandbits(32):08x}"
            customer_key = customer_id
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if same_customer_as:
            customer_key, name = same_customer_as.customer_key, same_customer_as.customer_name
            if source == "cxone":  # the end-user identity is the customer participant on CXone
                customer_id = same_customer_as.customer_id
        queue_key = rng.choice(("support", "billing", "technical", "sales"))
        plan = ConversationPlan(
            slot=len(self.conversations),
            id=conversation_id,
            source=source,
            brand=brand,
            customer_key=customer_key,
            customer_name=name,
            customer_id=customer_id,
            queue_key=queue_key,
            routing=self._routing(source, queue_key),
            custom=self._custom(source, brand),
            rng_seed=f"run:{self.seed}:{self.index}:{len(self.conversations)}",
        )
        self.conversations.append(plan)
        return plan

    def _routing(self, source: str, queue_key: str) -> dict:
        queue = QUEUES[queue_key]
        routing = {"queueId": queue.id_for(source), "priority": queue.priority + self.rng.randint(0, 2)}
        if source in ("native", "genesys"):
            routing["skillRequirements"] = queue.skill_ids_for(source)
        if source == "native" and self.rng.random() < 0.3:
            routing["complianceFlags"] = ["pci-scoped"]
        return routing

    def _custom(self, source: str, brand: Brand) -> dict:
        intent, tier = self.rng.choice(INTENTS), self.rng.choice(TIERS)
        account = f"{self.rng.randrange(10**7, 10**8)}"
        if source == "genesys":
            return {"Intent": intent, "Tier": tier, "AccountNumber": account}
        if source == "cxone":
            return {"intent": intent, "tier": tier, "accountNumber": account}
        return {"tenantId": brand.slug, "sessionOrigin": "direct-widget", "intent": intent, "tier": tier}

    def widget(self, conversation: ConversationPlan, *, origin: str | None = None, storage: str | None = None):
        widget = WidgetPlan(
            session_key=f"sk-{self.rng.getrandbits(64):016x}",
            origin=origin or self.rng.choice(conversation.brand.origins),
            storage=storage or self.rng.choice(STORAGES),
        )
        self.widgets.append(widget)
        return widget

    def other_origin(self, widget: WidgetPlan, conversation: ConversationPlan) -> str:
        return next(origin for origin in conversation.brand.origins if origin != widget.origin)

    def new_message_id(self, conversation: ConversationPlan, sender: str, occurred: float) -> str:
        message_id = random_uuid(self.rng) if conversation.source == "cxone" else f"m-{self.rng.getrandbits(48):012x}"
        conversation.messages.append((message_id, sender, occurred))
        return message_id

    def line(self, sender: str) -> str:
        lines = self._customer_lines if sender == "customer" else self._agent_lines
        if not lines:  # never repeat a line in one conversation (a repeat is what duplicate_message looks for)
            return f"{'Customer' if sender == 'customer' else 'Agent'} note {self.rng.getrandbits(24):06x}"
        return lines.pop()

    # --- platform steps ---------------------------------------------------------------------------

    def start(self, conversation: ConversationPlan, at: float, *, occurred: float | None = None) -> None:
        when = at if occurred is None else occurred
        self.add(at, f"start {conversation.id}", lambda ctx: ctx.start(conversation, ctx.time(when)))

    def assign(self, conversation, at: float, *, occurred=None, attributes=None, force=False) -> None:
        when = at if occurred is None else occurred
        self.add(
            at,
            f"assign {conversation.id}",
            lambda ctx: ctx.op(conversation, "assign", ctx.time(when), attributes=attributes, force=force),
        )

    def say(
        self,
        conversation: ConversationPlan,
        at: float,
        sender: str,
        *,
        text: str | None = None,
        idempotency_key: str | None = None,
        occurred: float | None = None,
        force: bool = False,
    ) -> str:
        """A message; ``idempotency_key`` None means a fresh key (native widgets send one), "" means none."""
        when = at if occurred is None else occurred
        message_id = self.new_message_id(conversation, sender, when)
        text = text or self.line(sender)
        if idempotency_key is None:
            idempotency_key = f"idem-{self.rng.getrandbits(64):016x}" if conversation.source == "native" else ""
        self.add(
            at,
            f"message {message_id}",
            lambda ctx: ctx.op(
                conversation,
                "message",
                ctx.time(when),
                message_id=message_id,
                sender=sender,
                text=text,
                idempotency_key=idempotency_key,
                force=force,
            ),
        )
        return message_id

    def chat(self, conversation: ConversationPlan, start: float, turns: int, *, gap: tuple[float, float] = (3, 7)):
        """Alternating customer/agent messages; returns the time after the last one."""
        at = start
        sender = "customer"
        for _ in range(turns):
            self.say(conversation, at, sender)
            sender = "agent" if sender == "customer" else "customer"
            at += self.rng.uniform(*gap)
        return at

    def transfer(self, conversation: ConversationPlan, at: float, *, keep_context: bool = True) -> str:
        to_queue = self.rng.choice(
            [q for q in ("billing", "technical", "specialists", "support") if q != conversation.queue_key]
        )

        def run(ctx):
            current = ctx.platform.get(conversation.id)
            routing, custom = dict(current.routing), dict(current.custom)
            queue = QUEUES[to_queue]
            routing["queueId"] = queue.id_for(conversation.source)
            if keep_context:
                if "skillRequirements" in routing:
                    routing["skillRequirements"] = queue.skill_ids_for(conversation.source)
                routing["priority"] = max(int(routing.get("priority", 0)), queue.priority)
            else:
                # The trap of Step 5: the transfer carries only the queue; skills, priority and a
                # custom attribute do not survive.
                tier_key = next((key for key in custom if key.lower() == "tier"), None)
                if tier_key:
                    custom.pop(tier_key)
                if conversation.source == "native":
                    routing.pop("skillRequirements", None)
                    routing.pop("priority", None)
                elif conversation.source == "genesys":
                    routing["skillRequirements"] = []
            ctx.op(conversation, "transfer", ctx.time(at), to_queue=to_queue, routing=routing, custom=custom)

        self.add(at, f"transfer {conversation.id}", run)
        return to_queue

    def update_attributes(self, conversation: ConversationPlan, at: float, **extra) -> None:
        def run(ctx):
            current = ctx.platform.get(conversation.id)
            ctx.op(
                conversation,
                "update_attributes",
                ctx.time(at),
                routing=dict(current.routing),
                custom={**current.custom, **extra},
            )

        self.add(at, f"attributes {conversation.id}", run)

    def customer_leaves(self, conversation: ConversationPlan, at: float) -> None:
        self.add(
            at,
            f"customer leaves {conversation.id}",
            lambda ctx: ctx.op(
                conversation,
                "leave",
                ctx.time(at),
                participant_id=conversation.customer_id,
                disconnect_type="endpoint",
            ),
        )

    def close(
        self,
        conversation: ConversationPlan,
        at: float,
        *,
        reason: str = "agent-closed",
        state: str = "closed",
        occurred: float | None = None,
        lost: bool = False,
    ) -> None:
        when = at if occurred is None else occurred
        disconnect = "timeout" if state == "expired" else "client"
        self.add(
            at,
            f"{state} {conversation.id}",
            lambda ctx: ctx.op(
                conversation,
                "close",
                ctx.time(when),
                reason=reason,
                state=state,
                customer_disconnect="timeout" if state == "expired" else "endpoint",
                agent_disconnect=disconnect,
                lost=lost,
            ),
        )

    # --- widget steps -------------------------------------------------------------------------------

    def beacons(self, widget: WidgetPlan, at: float, beacons: list[tuple[str, float, dict]], label: str = "") -> None:
        """Beacons made together: (kind, occurred, fields); they leave in the same telemetry request."""
        self.add(at, label or f"beacons {widget.session_key}", lambda ctx: ctx.beacons(widget, beacons))

    def session_init(
        self,
        widget: WidgetPlan,
        conversation: ConversationPlan,
        at: float,
        *,
        stored: ConversationPlan | None = None,
        stored_age: float | None = None,
        validated: bool = False,
        result: str = "new",
        occurred: float | None = None,
    ) -> None:
        self.beacons(
            widget,
            at,
            [
                (
                    "session.init",
                    at if occurred is None else occurred,
                    {
                        "origin": widget.origin,
                        "storage": widget.storage,
                        "storedConversationId": stored.id if stored else None,
                        "storedAgeSeconds": int(stored_age) if stored is not None and stored_age is not None else None,
                        "validated": validated,
                        "validationResult": result,
                        "conversationId": conversation.id,
                    },
                )
            ],
            label=f"session.init {widget.session_key}",
        )

    def socket_fields(self, conversation: ConversationPlan, event: str, **fields) -> dict:
        ready_states = {"open": 1, "heartbeat": 1, "pong_missed": 1, "reconnected": 1}
        return {
            "conversationId": conversation.id,
            "participantId": conversation.customer_id,
            "event": event,
            "readyState": fields.pop("readyState", ready_states.get(event, 3)),
            **fields,
        }

    def socket(self, widget, conversation, at: float, event: str, *, occurred: float | None = None, **fields):
        self.beacons(
            widget,
            at,
            [("socket.state", at if occurred is None else occurred, self.socket_fields(conversation, event, **fields))],
            label=f"socket {event} {widget.session_key}",
        )

    def heartbeat_fields(self, conversation: ConversationPlan) -> dict:
        return self.socket_fields(conversation, "heartbeat", rttMs=self.rng.randint(18, 160), missedPongs=0)

    def heartbeats(self, widget: WidgetPlan, conversation: ConversationPlan, start: float, end: float, every=15.0):
        """Completed ping/pong round trips while the socket is open (guide, Edge case 1)."""
        at = start
        while at < end:
            if not any(low <= at <= high for low, high in widget.down):
                self.beacons(widget, at, [("socket.state", at, self.heartbeat_fields(conversation))], label="heartbeat")
            at += every * self.rng.uniform(0.8, 1.2)

    def reconnect(self, widget, conversation, at: float, *, attempts: int, delays: list[int], cause="close") -> float:
        """The socket drops and reconnects; returns when it is open again."""
        beacons = []
        if cause == "close":
            beacons.append(("socket.state", at, self.socket_fields(conversation, "close", closeCode=1006)))
        t = at
        for attempt, delay in enumerate(delays[:attempts], start=1):
            beacons.append(
                (
                    "socket.state",
                    t,
                    self.socket_fields(conversation, "reconnect_attempt", readyState=0, attempt=attempt, delayMs=delay),
                )
            )
            t += delay / 1000
            if attempt == 1 and len(delays) > 1:
                beacons.append(("socket.state", t, self.socket_fields(conversation, "polling_fallback", readyState=3)))
        beacons.append(("socket.state", t, self.socket_fields(conversation, "reconnected", attempt=attempts)))
        widget.down.append((at, t))
        self.beacons(widget, at, beacons, label=f"reconnect {widget.session_key}")
        return t

    def history_fetch(
        self,
        widget: WidgetPlan,
        conversation: ConversationPlan,
        at: float,
        *,
        after_id: str | None,
        since: float | None = None,
        skip: int | None = None,
    ) -> None:
        """What the widget fetched to fill the gap, and what it got back.

        Healthy: ``afterId`` cursor, the platform's answer (strictly after it, in order).
        ``since``: a timestamp cursor (the trap of Step 4). ``skip``: the answer misses the
        message at that position (a gap between two returned ids).
        """

        def run(ctx):
            fetched_at = ctx.time(at)
            current = ctx.platform.get(conversation.id)
            if since is not None:
                cursor = ctx.time(since)
                returned = [m.id for m in current.messages if m.created_at > cursor and m.created_at <= fetched_at]
            else:
                returned = [m.id for m in current.messages_after(after_id, until=fetched_at)]
            if skip is not None and len(returned) > skip + 1:
                returned.pop(skip)
            fields = {
                "conversationId": conversation.id,
                "afterId": after_id if since is None else None,
                "since": ctx.iso(ctx.time(since)) if since is not None else None,
                "returnedIds": returned,
                "etag": f'W/"{conversation.id}-{len(current.messages)}"',
            }
            ctx.beacons(widget, [("history.fetch", at, fields)])

        self.add(at, f"history.fetch {widget.session_key}", run)

    def retry_report(self, widget, conversation, at: float, *, key: str | None, attempt: int, outcome: str) -> None:
        self.beacons(
            widget,
            at,
            [
                (
                    "message.retry",
                    at,
                    {"conversationId": conversation.id, "idempotencyKey": key, "attempt": attempt, "outcome": outcome},
                )
            ],
            label=f"message.retry {widget.session_key}",
        )

    # --- bookkeeping -----------------------------------------------------------------------------------

    def inject(self, kind: str, conversation: ConversationPlan, at: float) -> None:
        """Record the fault once the step that injects it has run (listed in the injection summary)."""
        self.add(at, f"injected {kind} {conversation.id}", lambda ctx: ctx.injected(kind, conversation))
