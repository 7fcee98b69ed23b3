"""The scenario catalogue: healthy conversations and one scenario per failure mode of the guide.

Each fault scenario produces exactly the facts of its finding as docs/architecture.md
defines it ("Findings" and "Definitions the detectors share"), on one conversation that
the injection summary names. Healthy scenarios do everything the guide recommends and
satisfy none of the definitions: widgets validate a stored id before resuming, send
heartbeats, reconnect with growing backoff (forcing a reconnect after three missed
pongs), retry with the same idempotency key, fetch history with an ``afterId`` cursor and
no gap; transfers keep the routing context on the conversation; every message text is
unique within a conversation; nothing happens after a close; every conversation ends.

Time-based faults are backdated rather than waited for: a stale session's activity
happened TTL + 10 minutes ago, a ghost session was closed grace + 5 minutes ago. The
console honours an event's ``occurredAt`` and a beacon's ``sentAt`` (at most 24 h old), so
they show up within seconds of being sent, with the console's default thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.script import PCI_LINE, ConversationPlan, Script, WidgetPlan

SOURCES = ("native", "genesys", "cxone")
MESSAGE_SOURCES = ("native", "cxone")  # the sources whose webhooks carry messages


@dataclass(frozen=True)
class Variant:
    kind: str
    name: str
    sources: tuple[str, ...]
    build: Callable[[Script], None]


# --- shared building blocks ------------------------------------------------------------------------


def opening(s: Script, conversation: ConversationPlan, widget: WidgetPlan, start: float = 0.0) -> float:
    """Widget loads, the platform starts the conversation, the socket opens, an agent answers, a short chat.

    Kept brisk so that a fault injected after it shows within the first minute of a demo.
    """
    s.start(conversation, start)
    s.session_init(widget, conversation, start)
    s.socket(widget, conversation, start + 0.3, "open")
    answered = start + s.rng.uniform(1.5, 3)
    s.assign(conversation, answered)
    return s.chat(conversation, answered + 1, s.rng.randint(2, 3), gap=(1.5, 3))


def last_said(conversation: ConversationPlan) -> tuple[str, float]:
    message_id, _, occurred = conversation.messages[-1]
    return message_id, occurred


def wrap_up(s: Script, conversation: ConversationPlan, widget: WidgetPlan, at: float, heartbeats_from: float) -> float:
    """A couple more turns, the agent closes, the widget's socket closes; heartbeats until then."""
    at = s.chat(conversation, at, s.rng.randint(1, 2)) + 2
    s.close(conversation, at, reason="resolved")
    s.socket(widget, conversation, at + 0.5, "close", closeCode=1000)
    s.heartbeats(widget, conversation, heartbeats_from, at)
    return at


def growing_delays(s: Script) -> list[int]:
    """Exponential backoff with a little jitter that never breaks the growth (guide, Step 2)."""
    return [int(base * s.rng.uniform(1.0, 1.15)) for base in (1000, 2000, 4000, 8000)]


# --- healthy ----------------------------------------------------------------------------------------


def healthy(s: Script) -> None:
    conversation = s.conversation()
    widget = s.widget(conversation)
    end = healthy_conversation(s, conversation, widget, 0.0)
    if s.rng.random() < 0.15:
        # A returning customer: the stored id is validated, the platform says it is closed, so
        # the widget starts a new conversation (guide, Step 3: the validation pattern).
        again = s.conversation(same_customer_as=conversation)
        again.follows = conversation.id
        at = end + s.rng.uniform(4, 8)
        s.start(again, at)
        s.session_init(widget, again, at, stored=conversation, stored_age=at, validated=True, result="new")
        healthy_conversation(s, again, widget, at, started=True)


def healthy_conversation(
    s: Script, conversation: ConversationPlan, widget: WidgetPlan, start: float, *, started: bool = False
) -> float:
    rng = s.rng
    if not started:
        s.start(conversation, start)
        s.session_init(widget, conversation, start)
    s.socket(widget, conversation, start + 0.3, "open")
    heartbeats_from = start + rng.uniform(6, 12)
    at = start + rng.uniform(2, 5)
    s.assign(conversation, at)
    at = s.chat(conversation, at + 1.5, rng.randint(2, 4))
    if conversation.routing.get("complianceFlags"):
        s.say(conversation, at, "customer", text=PCI_LINE)
        at += rng.uniform(3, 5)
    extras = ["reload", "reconnect", "pong_reconnect", "retry", "transfer"]
    if conversation.source == "native":
        extras.append("attributes")
    for extra in rng.sample(extras, rng.randint(0, 3)):
        at = HEALTHY_EXTRAS[extra](s, conversation, widget, at + rng.uniform(2, 4))
    ending = rng.choice(("customer_leaves", "agent_closes", "inactivity"))
    at += rng.uniform(2, 4)
    if ending == "customer_leaves":
        s.customer_leaves(conversation, at)
        s.socket(widget, conversation, at + 0.2, "close", closeCode=1001)
        s.heartbeats(widget, conversation, heartbeats_from, at)
        at += rng.uniform(2, 4)
        s.close(conversation, at, reason="resolved")
    elif ending == "agent_closes":
        s.close(conversation, at, reason="resolved")
        s.socket(widget, conversation, at + 0.5, "close", closeCode=1000)
        s.heartbeats(widget, conversation, heartbeats_from, at)
    else:
        # The platform's own inactivity timer ends it (heartbeats are not activity).
        at += 30
        s.close(conversation, at, reason="inactivity", state="expired")
        s.socket(widget, conversation, at + 0.5, "close", closeCode=1000)
        s.heartbeats(widget, conversation, heartbeats_from, at)
    return at


def _reload(s: Script, conversation, widget, at: float) -> float:
    """A page reload that validates the stored id before resuming (guide, Step 3)."""
    last_id, _ = last_said(conversation)
    s.socket(widget, conversation, at, "close", closeCode=1001)
    s.session_init(widget, conversation, at + 0.5, stored=conversation, stored_age=at, validated=True, result="resumed")
    s.socket(widget, conversation, at + 0.9, "open")
    widget.down.append((at, at + 0.9))
    if conversation.has_message_events:
        s.history_fetch(widget, conversation, at + 1.1, after_id=last_id)
    return at + 2


def _reconnect(s: Script, conversation, widget, at: float) -> float:
    """The socket drops, reconnects with growing backoff, and fills the gap with an afterId fetch."""
    last_id, _ = last_said(conversation)
    attempts = s.rng.randint(1, 3)
    s.say(conversation, at + 0.3, "agent")
    back = s.reconnect(widget, conversation, at, attempts=attempts, delays=growing_delays(s))
    if conversation.has_message_events:
        s.history_fetch(widget, conversation, back + 0.2, after_id=last_id)
    return back + 1


def _pong_reconnect(s: Script, conversation, widget, at: float) -> float:
    """Three missed pongs, then the widget forces a reconnection (guide, Edge case 1: the solution)."""
    for missed in (1, 2):
        s.socket(widget, conversation, at + 5 * (missed - 1), "pong_missed", missedPongs=missed)
    third = at + 10
    fields = s.socket_fields
    s.beacons(
        widget,
        third,
        [
            ("socket.state", third, fields(conversation, "pong_missed", missedPongs=3)),
            ("socket.state", third, fields(conversation, "close", closeCode=4000, readyState=3)),
            ("socket.state", third, fields(conversation, "reconnect_attempt", readyState=0, attempt=1, delayMs=1000)),
            ("socket.state", third + 1, fields(conversation, "reconnected", attempt=1)),
        ],
        label=f"forced reconnect {widget.session_key}",
    )
    widget.down.append((at, third + 1))
    return third + 2


def _retry(s: Script, conversation, widget, at: float) -> float:
    """A send that timed out is retried with the same idempotency key: the platform keeps one message."""
    key = f"idem-{s.rng.getrandbits(64):016x}"
    s.say(conversation, at, "customer", idempotency_key=key if conversation.source == "native" else "")
    s.retry_report(widget, conversation, at + 2, key=key, attempt=2, outcome="duplicate")
    return at + 3


def _transfer(s: Script, conversation, widget, at: float) -> float:
    """A transfer to another queue that keeps the conversation-level routing context (guide, Step 5)."""
    s.say(conversation, at, "agent", text="I am transferring you to a colleague who can help with this.")
    s.transfer(conversation, at + 1, keep_context=True)
    at += s.rng.uniform(4, 7)
    s.assign(conversation, at)
    return s.chat(conversation, at + 1.5, s.rng.randint(1, 3))


def _attributes(s: Script, conversation, widget, at: float) -> float:
    s.update_attributes(conversation, at, caseNumber=f"CS-{s.rng.randrange(10000, 99999)}")
    return at + 1


HEALTHY_EXTRAS = {
    "reload": _reload,
    "reconnect": _reconnect,
    "pong_reconnect": _pong_reconnect,
    "retry": _retry,
    "transfer": _transfer,
    "attributes": _attributes,
}


# --- faults -------------------------------------------------------------------------------------------


def duplicate_conversation(s: Script) -> None:
    """Scenario 1: only the participantId was stored, so a reload starts a second conversation."""
    first = s.conversation()
    widget = s.widget(first, storage="session")
    at = opening(s, first, widget)
    reload = at + 1
    s.socket(widget, first, reload, "close", closeCode=1001)
    second = s.conversation(same_customer_as=first)
    s.start(second, reload + 0.5)
    s.session_init(widget, second, reload + 0.5)
    s.inject("duplicate_conversation", second, reload + 0.5)
    s.socket(widget, second, reload + 0.8, "open")
    s.heartbeats(widget, first, 1, reload)
    s.assign(second, reload + 3)
    s.say(first, reload + 6, "agent")
    end = wrap_up(s, second, widget, reload + 5, reload + 8)
    s.close(first, end + 2, reason="abandoned")


def unvalidated_resume(s: Script) -> None:
    """Step 3's trap: the stored id is resumed without asking the platform."""
    conversation = s.conversation()
    widget = s.widget(conversation, storage="local")
    at = opening(s, conversation, widget)
    reload = at + 1
    s.socket(widget, conversation, reload, "close", closeCode=1001)
    s.session_init(widget, conversation, reload + 0.5, stored=conversation, stored_age=reload, result="resumed")
    s.inject("unvalidated_resume", conversation, reload + 0.5)
    s.socket(widget, conversation, reload + 0.8, "open")
    s.heartbeats(widget, conversation, 1, reload)
    wrap_up(s, conversation, widget, reload + 3, reload + 6)


def resume_closed(s: Script) -> None:
    """The widget resumes a conversation the platform already closed (its check trusted a 200 OK)."""
    conversation = s.conversation()
    widget = s.widget(conversation, storage="local")
    at = opening(s, conversation, widget)
    closed = at + 1
    s.close(conversation, closed, reason="resolved")
    s.heartbeats(widget, conversation, 1, closed)
    reload = closed + 4
    s.session_init(
        widget, conversation, reload, stored=conversation, stored_age=reload, validated=True, result="resumed"
    )
    s.inject("unvalidated_resume", conversation, reload)
    s.socket(widget, conversation, reload + 0.5, "error", closeCode=1008)


def cross_origin_reset(s: Script) -> None:
    """Edge case 2: on the brand's other origin the widget cannot read the stored id and starts over."""
    first = s.conversation()
    widget = s.widget(first, origin=first.brand.origins[0], storage="local")
    at = opening(s, first, widget)
    navigated = at + 1
    other = s.widget(first, origin=s.other_origin(widget, first), storage="local")
    second = s.conversation(same_customer_as=first)
    s.start(second, navigated + 0.5)
    s.session_init(other, second, navigated + 0.5)
    s.inject("cross_origin_reset", second, navigated + 0.5)
    s.socket(other, second, navigated + 0.8, "open")
    s.assign(second, navigated + 3)
    end = wrap_up(s, second, other, navigated + 5, navigated + 8)
    # The first tab stays open on the first origin until its conversation is closed too.
    s.close(first, end + 3, reason="resolved")
    s.socket(widget, first, end + 3.5, "close", closeCode=1000)
    s.heartbeats(widget, first, 1, end + 3)


def stale_session(s: Script) -> None:
    """Core Concepts (TTL): the platform never expired a conversation idle for TTL + 10 minutes."""
    conversation = s.conversation()
    past = -(s.session_ttl + 600)
    s.start(conversation, 0, occurred=past)
    s.assign(conversation, 0.1, occurred=past + 4)
    s.say(conversation, 0.2, "customer", occurred=past + 6)
    s.say(conversation, 0.3, "agent", occurred=past + 12)
    s.inject("stale_session", conversation, 0.5)


def _backdated_opening(s: Script, conversation, widget, closed_at: float) -> None:
    """A conversation that started two minutes before ``closed_at`` (negative: in the past)."""
    begin = closed_at - 120
    s.start(conversation, 0, occurred=begin)
    s.session_init(widget, conversation, 0, occurred=begin)
    s.socket(widget, conversation, 0, "open", occurred=begin + 0.3)
    s.assign(conversation, 0, occurred=begin + 5)
    at = begin + 7
    for sender in ("customer", "agent", "customer"):
        s.say(conversation, 0, sender, occurred=at)
        at += s.rng.uniform(3, 6)


def _backlog_heartbeats(s: Script, conversation, widget, start: float, end: float, every: float = 30) -> None:
    beacons, at = [], start
    while at < end:
        beacons.append(("socket.state", at, s.heartbeat_fields(conversation)))
        at += every
    s.beacons(widget, 0, beacons, label=f"heartbeat backlog {widget.session_key}")


def ghost_live_after_close(s: Script) -> None:
    """Edge case 1 / Step 3's trap: the platform closed it long ago, the widget still reports a live socket."""
    conversation = s.conversation()
    widget = s.widget(conversation, storage="local")
    closed_at = -(s.ghost_grace + 300)
    _backdated_opening(s, conversation, widget, closed_at)
    s.close(conversation, 0, occurred=closed_at, reason="resolved")
    _backlog_heartbeats(s, conversation, widget, closed_at - 110, 0)
    s.inject("ghost_session", conversation, 0.5)
    s.heartbeats(widget, conversation, 5, 60)


def ghost_silent_after_lost_close(s: Script) -> None:
    """The platform closed it but its close webhooks were lost; the widget has been silent past the grace.

    The platform closed the socket with the conversation; the widget's next two pings went
    unanswered (below the three of a silent socket), then the tab was frozen: its last
    heartbeat and the customer's last message are older than the grace period.
    """
    conversation = s.conversation()
    widget = s.widget(conversation, storage="local")
    closed_at = -(s.ghost_grace + 300)
    _backdated_opening(s, conversation, widget, closed_at)
    _backlog_heartbeats(s, conversation, widget, closed_at - 110, closed_at)
    s.close(conversation, 0, occurred=closed_at, reason="resolved", lost=True)
    missed = [
        ("socket.state", closed_at + 5 * n, s.socket_fields(conversation, "pong_missed", missedPongs=n)) for n in (1, 2)
    ]
    s.beacons(widget, 0, missed, label=f"missed pongs {widget.session_key}")
    s.inject("ghost_session", conversation, 0.5)


def silent_socket(s: Script) -> None:
    """Edge case 1: readyState stays OPEN while pongs stop, and the widget never reconnects."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    silent = at + 1
    s.heartbeats(widget, conversation, 1, silent)
    for missed in range(1, 6):
        s.socket(widget, conversation, silent + 5 * (missed - 1), "pong_missed", missedPongs=missed)
    s.inject("silent_socket", conversation, silent + 10)
    s.say(conversation, silent + 6, "agent")
    s.say(conversation, silent + 16, "agent")
    s.close(conversation, silent + 24, reason="customer-unresponsive")


def reconnect_storm(s: Script) -> None:
    """Step 2's trap: reconnect attempts every 200 ms, no backoff."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    dropped = at + 1
    last_id, _ = last_said(conversation)
    back = s.reconnect(widget, conversation, dropped, attempts=6, delays=[200] * 6)
    s.inject("reconnect_storm", conversation, dropped)
    if conversation.has_message_events:
        s.history_fetch(widget, conversation, back + 0.2, after_id=last_id)
    wrap_up(s, conversation, widget, back + 2, back + 5)
    s.heartbeats(widget, conversation, 1, dropped)


def duplicate_message_resent(s: Script) -> None:
    """Step 3's trap (idempotency): after a blip the queued message is resent without a key."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    sent = at + 1
    text = s.line("customer")
    s.say(conversation, sent, "customer", text=text, idempotency_key="")
    back = s.reconnect(widget, conversation, sent + 0.5, attempts=1, delays=[1000])
    s.say(conversation, back + 0.5, "customer", text=text, idempotency_key="")
    s.retry_report(widget, conversation, back + 0.6, key=None, attempt=2, outcome="new")
    s.inject("duplicate_message", conversation, back + 0.6)
    s.heartbeats(widget, conversation, 1, sent)
    wrap_up(s, conversation, widget, back + 3, back + 6)


def duplicate_message_retry_new(s: Script) -> None:
    """The widget reports a retry that the platform took as a new message (no idempotency key)."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    sent = at + 1
    text = s.line("customer")
    s.say(conversation, sent, "customer", text=text, idempotency_key="")
    s.say(conversation, sent + 3, "customer", text=text, idempotency_key="")
    s.retry_report(widget, conversation, sent + 3.1, key=None, attempt=2, outcome="new")
    s.inject("duplicate_message", conversation, sent + 3.1)
    s.heartbeats(widget, conversation, 1, sent + 4)
    wrap_up(s, conversation, widget, sent + 5, sent + 8)


def cursor_timestamp(s: Script) -> None:
    """Step 2 / Edge case 3: history fetched with a timestamp cursor instead of afterId."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    _, seen_at = last_said(conversation)
    dropped = at + 1
    s.say(conversation, dropped + 0.5, "agent")
    s.say(conversation, dropped + 1.0, "agent")
    back = s.reconnect(widget, conversation, dropped, attempts=2, delays=growing_delays(s))
    s.history_fetch(widget, conversation, back + 0.2, after_id=None, since=seen_at)
    s.inject("cursor_drift", conversation, back + 0.2)
    s.heartbeats(widget, conversation, 1, dropped)
    wrap_up(s, conversation, widget, back + 2, back + 5)


def cursor_gap(s: Script) -> None:
    """Edge case 3: an afterId fetch whose answer skips a message the platform holds."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    last_id, _ = last_said(conversation)
    dropped = at + 1
    for offset in (0.4, 0.8, 1.2):
        s.say(conversation, dropped + offset, "agent")
    back = s.reconnect(widget, conversation, dropped, attempts=2, delays=growing_delays(s))
    s.history_fetch(widget, conversation, back + 0.2, after_id=last_id, skip=1)
    s.inject("cursor_drift", conversation, back + 0.2)
    s.heartbeats(widget, conversation, 1, dropped)
    wrap_up(s, conversation, widget, back + 2, back + 5)


def context_lost_on_handoff(s: Script) -> None:
    """Step 5 / Scenario 3: the transfer carries the queue but drops skills, priority and an attribute."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    s.say(conversation, at + 1, "agent", text="I am transferring you to a colleague who can help with this.")
    s.transfer(conversation, at + 2, keep_context=False)
    s.inject("context_lost_on_handoff", conversation, at + 2)
    s.assign(conversation, at + 5)
    wrap_up(s, conversation, widget, at + 7, 1)


def participant_scoped_context(s: Script) -> None:
    """Step 5's trap: the routing context is attached to the agent participant, not the conversation."""
    conversation = s.conversation()
    conversation.routing = {"queueId": conversation.routing["queueId"]}
    widget = s.widget(conversation)
    s.start(conversation, 0)
    s.session_init(widget, conversation, 0)
    s.socket(widget, conversation, 0.3, "open")
    skills = ["technical", "escalation"]
    attributes = {
        "routingData": {"queueId": "specialists", "skillRequirements": skills, "priority": 8},
        "skillRequirements": skills,
        "priority": 8,
    }
    s.assign(conversation, 3, attributes=attributes)
    s.inject("participant_scoped_context", conversation, 3)
    at = s.chat(conversation, 4.5, 2)
    wrap_up(s, conversation, widget, at + 1, 1)


def event_after_close(s: Script) -> None:
    """Ordering rules: the platform reports something for a conversation after closing it."""
    conversation = s.conversation()
    widget = s.widget(conversation)
    at = opening(s, conversation, widget)
    closed = at + 1
    s.close(conversation, closed, reason="resolved")
    s.socket(widget, conversation, closed + 0.5, "close", closeCode=1000)
    s.heartbeats(widget, conversation, 1, closed)
    late = closed + 4
    if conversation.has_message_events:
        s.say(conversation, late, "agent", text="Sorry, one more thing: your ticket number is 4471.", force=True)
    else:
        s.assign(conversation, late, force=True)  # an agent joins after the teardown
    s.inject("event_after_close", conversation, late)


VARIANTS: tuple[Variant, ...] = (
    Variant("duplicate_conversation", "reload-lost-id", SOURCES, duplicate_conversation),
    Variant("unvalidated_resume", "no-validation", SOURCES, unvalidated_resume),
    Variant("unvalidated_resume", "resumed-closed", SOURCES, resume_closed),
    Variant("cross_origin_reset", "other-origin", SOURCES, cross_origin_reset),
    Variant("stale_session", "idle-past-ttl", SOURCES, stale_session),
    Variant("ghost_session", "live-after-close", SOURCES, ghost_live_after_close),
    Variant("ghost_session", "silent-after-lost-close", SOURCES, ghost_silent_after_lost_close),
    Variant("silent_socket", "pongs-stopped", SOURCES, silent_socket),
    Variant("reconnect_storm", "no-backoff", SOURCES, reconnect_storm),
    Variant("duplicate_message", "resent-without-key", MESSAGE_SOURCES, duplicate_message_resent),
    Variant("duplicate_message", "retry-created-new", ("genesys",), duplicate_message_retry_new),
    Variant("cursor_drift", "timestamp-cursor", MESSAGE_SOURCES, cursor_timestamp),
    Variant("cursor_drift", "afterid-gap", MESSAGE_SOURCES, cursor_gap),
    Variant("context_lost_on_handoff", "native-transfer", ("native",), context_lost_on_handoff),
    Variant("context_lost_on_handoff", "genesys-transfer", ("genesys",), context_lost_on_handoff),
    Variant("context_lost_on_handoff", "cxone-queue-change", ("cxone",), context_lost_on_handoff),
    Variant("participant_scoped_context", "agent-attributes", ("native",), participant_scoped_context),
    Variant("event_after_close", "native-message", ("native",), event_after_close),
    Variant("event_after_close", "genesys-join", ("genesys",), event_after_close),
    Variant("event_after_close", "cxone-message", ("cxone",), event_after_close),
)
FAULT_KINDS = tuple(dict.fromkeys(variant.kind for variant in VARIANTS))
HEALTHY = Variant("", "healthy", SOURCES, healthy)


def variants_for(kind: str, sources: tuple[str, ...]) -> list[Variant]:
    return [v for v in VARIANTS if v.kind == kind and set(v.sources) & set(sources)]
