"""The fake platform's own state: conversations, participants, messages, queues and agents.

Every operation changes the state under one lock and returns the ``Change`` records
that describe what happened; a format module (simulator/formats/) turns them into the
webhooks that platform would send. The platform API (simulator/platform_api.py) reads
the same state, so the console's force-close and reconciliation see what the webhooks
described, and a close requested by the console produces the platform's own close
webhooks.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

NAMESPACE = uuid.UUID("6f1d2c77-3b8e-4f0a-9d55-2a7c0e5b9c11")

OPEN = ("pending", "active")
TERMINAL = ("closed", "expired")


def stable_uuid(name: str) -> str:
    """Ids of the static roster (queues, agents, skills): the same in every run."""
    return str(uuid.uuid5(NAMESPACE, name))


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from a seeded generator (never uuid4: runs must be reproducible)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class Queue:
    key: str
    name: str
    skills: tuple[str, ...]
    priority: int

    def id_for(self, source: str) -> str:
        return self.key if source == "native" else stable_uuid(f"{source}-queue:{self.key}")

    def skill_ids_for(self, source: str) -> list[str]:
        if source == "genesys":
            return [stable_uuid(f"genesys-skill:{skill}") for skill in self.skills]
        return list(self.skills)


QUEUES = {
    queue.key: queue
    for queue in (
        Queue("support", "General Support", ("general",), 0),
        Queue("billing", "Billing", ("billing", "payments"), 3),
        Queue("technical", "Technical Support", ("technical",), 2),
        Queue("specialists", "Specialists", ("technical", "escalation"), 5),
        Queue("sales", "Sales", ("sales",), 1),
    )
}
# Where a transfer from each queue goes.
TRANSFER_TARGETS = {
    "support": ("billing", "technical", "sales"),
    "billing": ("specialists", "support"),
    "technical": ("specialists",),
    "specialists": ("technical", "billing"),
    "sales": ("billing", "support"),
}


@dataclass
class Agent:
    key: str
    first_name: str
    surname: str
    cxone_id: int
    queues: tuple[str, ...]
    capacity: int = 4
    load: int = 0

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.surname}"

    @property
    def user_id(self) -> str:
        return stable_uuid(f"agent:{self.key}")


def _roster() -> list[Agent]:
    people = [
        ("tyler", "Tyler", "Brooks", ("support", "billing")),
        ("maria", "Maria", "Lopez", ("billing", "specialists")),
        ("kenji", "Kenji", "Sato", ("technical", "specialists")),
        ("amara", "Amara", "Okafor", ("support", "sales")),
        ("lena", "Lena", "Fischer", ("technical", "support")),
        ("omar", "Omar", "Haddad", ("sales", "billing")),
        ("priya", "Priya", "Nair", ("specialists", "technical")),
        ("jonas", "Jonas", "Berg", ("support", "technical")),
        ("chloe", "Chloe", "Martin", ("billing", "sales")),
        ("diego", "Diego", "Ramos", ("specialists", "support")),
    ]
    return [
        Agent(key, first, last, 12300 + index, queues) for index, (key, first, last, queues) in enumerate(people, 1)
    ]


class PlatformError(Exception):
    pass


class ConversationClosed(PlatformError):
    """The platform refuses work on a closed conversation (unless a fault forces it)."""


@dataclass
class SimParticipant:
    id: str
    role: str  # customer | agent | acd | bot
    joined_at: datetime
    name: str = ""
    agent: Agent | None = None
    queue_key: str = ""
    attributes: dict = field(default_factory=dict)
    state: str = "connected"  # connected | disconnected
    left_at: datetime | None = None
    disconnect_type: str = ""

    @property
    def connected(self) -> bool:
        return self.state == "connected"


@dataclass
class SimMessage:
    id: str
    participant_id: str
    direction: str  # inbound (from the customer) | outbound
    text: str
    idempotency_key: str
    created_at: datetime


@dataclass
class Change:
    """Something that happened on the platform, before any wire format."""

    kind: str  # started | joined | left | message | state | transfer | attributes | closed
    at: datetime
    data: dict = field(default_factory=dict)


@dataclass
class SimConversation:
    id: str
    source: str
    scenario: int
    tenant: str
    channel: str
    customer_key: str
    customer_name: str
    customer_id: str
    routing: dict
    custom: dict
    queue_key: str
    started_at: datetime
    rng: random.Random
    state: str = "pending"
    closed_at: datetime | None = None
    close_reason: str = ""
    closed_by: str = ""  # "script" (the scenario's own story) or "api" (the console asked)
    last_activity_at: datetime | None = None
    participants: dict[str, SimParticipant] = field(default_factory=dict)
    messages: list[SimMessage] = field(default_factory=list)
    sequence: int = 0
    # The agent that left with a transfer and whose successor is not assigned yet (CXone
    # reports the reassignment as one "previous -> new assignee" event).
    transferred_from: SimParticipant | None = None
    # Wire details chosen once per conversation.
    envelope: str = "notification"
    token_header: str = "authorization"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    def customer(self) -> SimParticipant:
        return self.participants[self.customer_id]

    def current_agent(self) -> SimParticipant | None:
        agents = [p for p in self.participants.values() if p.role == "agent" and p.connected]
        return agents[-1] if agents else None

    def queue_participant(self) -> SimParticipant | None:
        queued = [p for p in self.participants.values() if p.role == "acd" and p.connected]
        return queued[-1] if queued else None

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    def touch(self, at: datetime) -> None:
        if self.last_activity_at is None or at > self.last_activity_at:
            self.last_activity_at = at

    def messages_after(self, message_id: str | None, *, until: datetime | None = None) -> list[SimMessage]:
        """The platform's answer to a history fetch with an afterId cursor (strictly after it)."""
        ids = [message.id for message in self.messages]
        start = ids.index(message_id) + 1 if message_id in ids else 0
        return [m for m in self.messages[start:] if until is None or m.created_at <= until]


class Platform:
    """The simulated platform: thread-safe, shared by the scenario driver and the platform API."""

    def __init__(self):
        self.lock = threading.RLock()
        self.conversations: dict[str, SimConversation] = {}
        self.agents = _roster()

    # --- reads ---------------------------------------------------------------------------

    def get(self, conversation_id: str) -> SimConversation | None:
        with self.lock:
            return self.conversations.get(conversation_id)

    def by_source(self, source: str) -> list[SimConversation]:
        with self.lock:
            return [c for c in self.conversations.values() if c.source == source]

    # --- operations ------------------------------------------------------------------------

    def start(
        self,
        *,
        conversation_id: str,
        source: str,
        scenario: int,
        at: datetime,
        tenant: str,
        channel: str,
        customer_key: str,
        customer_name: str,
        customer_id: str,
        queue_key: str,
        routing: dict,
        custom: dict,
        rng: random.Random,
    ) -> list[Change]:
        with self.lock:
            if conversation_id in self.conversations:
                raise PlatformError(f"conversation {conversation_id} exists already")
            conversation = SimConversation(
                id=conversation_id,
                source=source,
                scenario=scenario,
                tenant=tenant,
                channel=channel,
                customer_key=customer_key,
                customer_name=customer_name,
                customer_id=customer_id,
                routing=dict(routing),
                custom=dict(custom),
                queue_key=queue_key,
                started_at=at,
                rng=rng,
                envelope=rng.choice(("notification", "eventbridge")),
                token_header=rng.choice(("authorization", "x-cxone-token")),
            )
            self.conversations[conversation_id] = conversation
            customer = SimParticipant(id=customer_id, role="customer", joined_at=at, name=customer_name)
            conversation.participants[customer.id] = customer
            conversation.touch(at)
            changes = [Change("started", at), Change("joined", at, {"participant": customer})]
            changes += self._enqueue(conversation, at, queue_key)
            return changes

    def _enqueue(self, conversation: SimConversation, at: datetime, queue_key: str) -> list[Change]:
        """The conversation waits in a queue: Genesys models the queue as an ACD participant."""
        conversation.queue_key = queue_key
        if conversation.source != "genesys":
            return []
        queue = SimParticipant(id=random_uuid(conversation.rng), role="acd", joined_at=at, queue_key=queue_key)
        conversation.participants[queue.id] = queue
        return [Change("joined", at, {"participant": queue})]

    def pick_agent(self, conversation: SimConversation, rng: random.Random) -> Agent:
        """The least loaded agent serving the queue (not the one who just transferred it away)."""
        previous = conversation.transferred_from.agent if conversation.transferred_from else None
        serving = [a for a in self.agents if conversation.queue_key in a.queues and a is not previous]
        serving = serving or [a for a in self.agents if a is not previous]
        lowest = min(agent.load for agent in serving)
        return rng.choice([agent for agent in serving if agent.load == lowest])

    def assign(
        self,
        conversation_id: str,
        at: datetime,
        *,
        attributes: dict | None = None,
        force: bool = False,
    ) -> list[Change]:
        """The queue answers: an agent joins and the conversation becomes active."""
        with self.lock:
            conversation = self._open(conversation_id, force=force)
            agent = self.pick_agent(conversation, conversation.rng)
            if conversation.is_open:
                agent.load += 1
            changes = []
            queued = conversation.queue_participant()
            if queued:
                changes += self._leave(conversation, queued, at, "transfer", answered_by=agent)
            participant_id = (
                f"user:{agent.cxone_id}"
                if conversation.source == "cxone"
                else random_uuid(conversation.rng)
                if conversation.source == "genesys"
                else f"p-{conversation.rng.getrandbits(40):010x}"
            )
            participant = SimParticipant(
                id=participant_id,
                role="agent",
                joined_at=at,
                name=agent.name,
                agent=agent,
                queue_key=conversation.queue_key,
                attributes=dict(attributes or {}),
            )
            conversation.participants[participant.id] = participant
            conversation.touch(at)
            changes.append(
                Change("joined", at, {"participant": participant, "previous": conversation.transferred_from})
            )
            conversation.transferred_from = None
            if conversation.state == "pending":
                conversation.state = "active"
                changes.append(Change("state", at, {"state": "active"}))
            return changes

    def message(
        self,
        conversation_id: str,
        at: datetime,
        *,
        message_id: str,
        sender: str,
        text: str,
        idempotency_key: str = "",
        force: bool = False,
    ) -> list[Change]:
        """A message from the customer (sender "customer") or the current agent (sender "agent")."""
        with self.lock:
            conversation = self._open(conversation_id, force=force)
            if sender == "customer":
                participant, direction = conversation.customer(), "inbound"
            else:
                participant = conversation.current_agent() or self._last_agent(conversation)
                direction = "outbound"
            message = SimMessage(message_id, participant.id, direction, text, idempotency_key, at)
            conversation.messages.append(message)
            conversation.touch(at)
            return [Change("message", at, {"message": message})]

    def _last_agent(self, conversation: SimConversation) -> SimParticipant:
        agents = [p for p in conversation.participants.values() if p.role == "agent"]
        if not agents:
            raise PlatformError(f"conversation {conversation.id} has no agent to send a message")
        return agents[-1]

    def transfer(
        self, conversation_id: str, at: datetime, *, to_queue: str, routing: dict, custom: dict
    ) -> list[Change]:
        """The agent transfers the conversation to another queue with the given routing context."""
        with self.lock:
            conversation = self._open(conversation_id)
            agent = conversation.current_agent()
            from_queue = conversation.queue_key
            before = {"routing": dict(conversation.routing), "custom": dict(conversation.custom)}
            conversation.routing, conversation.custom = dict(routing), dict(custom)
            changes = [
                Change(
                    "transfer",
                    at,
                    {"from": agent, "from_queue": from_queue, "to_queue": to_queue, "before": before},
                )
            ]
            if agent:
                changes += self._leave(conversation, agent, at, "transfer")
                conversation.transferred_from = agent
            conversation.touch(at)
            changes += self._enqueue(conversation, at, to_queue)
            return changes

    def update_attributes(self, conversation_id: str, at: datetime, *, routing: dict, custom: dict) -> list[Change]:
        with self.lock:
            conversation = self._open(conversation_id)
            before = {"routing": dict(conversation.routing), "custom": dict(conversation.custom)}
            conversation.routing, conversation.custom = dict(routing), dict(custom)
            return [Change("attributes", at, {"before": before})]

    def leave(self, conversation_id: str, at: datetime, *, participant_id: str, disconnect_type: str) -> list[Change]:
        with self.lock:
            conversation = self._open(conversation_id)
            participant = conversation.participants[participant_id]
            if not participant.connected:
                return []
            conversation.touch(at)
            return self._leave(conversation, participant, at, disconnect_type)

    def _leave(
        self,
        conversation: SimConversation,
        participant: SimParticipant,
        at: datetime,
        disconnect_type: str,
        *,
        answered_by: Agent | None = None,
    ) -> list[Change]:
        participant.state, participant.left_at, participant.disconnect_type = "disconnected", at, disconnect_type
        if participant.agent is not None:
            participant.agent.load = max(0, participant.agent.load - 1)
        return [Change("left", at, {"participant": participant, "answered_by": answered_by})]

    def close(
        self,
        conversation_id: str,
        at: datetime,
        *,
        reason: str,
        state: str = "closed",
        customer_disconnect: str = "endpoint",
        agent_disconnect: str = "client",
        by: str = "script",
    ) -> list[Change]:
        """Close (or expire): everyone still connected leaves, then the conversation ends. Idempotent."""
        with self.lock:
            conversation = self.conversations.get(conversation_id)
            if conversation is None:
                raise PlatformError(f"unknown conversation {conversation_id}")
            if not conversation.is_open:
                return []
            changes = []
            for participant in list(conversation.participants.values()):
                if participant.connected:
                    kind = customer_disconnect if participant.role == "customer" else agent_disconnect
                    changes += self._leave(conversation, participant, at, kind)
            conversation.state, conversation.closed_at, conversation.close_reason = state, at, reason
            conversation.closed_by = by
            conversation.transferred_from = None
            changes.append(Change("closed", at, {"state": state, "reason": reason}))
            return changes

    def _open(self, conversation_id: str, *, force: bool = False) -> SimConversation:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise PlatformError(f"unknown conversation {conversation_id}")
        if not conversation.is_open and not force:
            raise ConversationClosed(f"conversation {conversation_id} is {conversation.state}")
        return conversation
