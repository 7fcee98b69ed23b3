"""Remediation of each finding kind, quoted word for word from the domain guide.

The guide is docs/reference/session-persistence-guide.txt (a copy of the shared reference).
Each kind names the guide section that is its primary remedy; a quote from another section
says which. tests/diagnostics/test_guide.py checks every quote against the guide's text, so
an edit here cannot drift from the source.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostics.models import FindingKind, Severity

ANCHORING = "1. Anchoring State to the Conversation Lifecycle"
RECONNECTION = "2. Configuring WebSocket Reconnection and HTTP Fallback with Idempotent Message Routing"
RECOVERY = "3. Implementing Deterministic Session Recovery via Local Storage and Server Validation"
HANDOFFS = "4. Validating Routing Context Preservation Across Agent Handoffs"
EDGE_SILENT = "Edge Case 1: Silent WebSocket Termination During Network Partition"
EDGE_ORIGIN = "Edge Case 2: Cross-Origin Storage Isolation Breaking Session Recovery"
EDGE_CURSOR = "Edge Case 3: Message History Cursor Drift During High-Volume Async Burst"

SECTIONS = (ANCHORING, RECONNECTION, RECOVERY, HANDOFFS, EDGE_SILENT, EDGE_ORIGIN, EDGE_CURSOR)


@dataclass(frozen=True)
class Remedy:
    section: str
    quotes: tuple[tuple[str, str], ...]  # (section, verbatim text)
    severity: str

    @property
    def text(self) -> str:
        parts = []
        for section, quote in self.quotes:
            parts.append(quote if section == self.section else f"{quote} (guide, {section})")
        return "\n\n".join(parts)


REMEDIES = {
    FindingKind.DUPLICATE_CONVERSATION: Remedy(
        ANCHORING,
        (
            (
                ANCHORING,
                "You must anchor all client-side state to the conversationId, not the participantId or a "
                "temporary session token.",
            ),
            (
                ANCHORING,
                "If a user refreshes the page, the participantId changes, but the conversationId must remain "
                "constant to preserve continuity.",
            ),
            (
                RECOVERY,
                "Your recovery logic must validate stored state against the server of record before resuming "
                "the WebSocket connection.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.UNVALIDATED_RESUME: Remedy(
        RECOVERY,
        (
            (
                RECOVERY,
                "On DOM ready, read the stored conversationId and participantId. Immediately issue a validation "
                "request to the platform. If the conversation exists and is in an active or pending state, resume "
                "the WebSocket subscription using the stored conversationId. If the conversation is closed, "
                "expired, or not found, initialize a new conversation. Never assume client-side storage reflects "
                "server-side reality.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.CROSS_ORIGIN_RESET: Remedy(
        EDGE_ORIGIN,
        (
            (
                EDGE_ORIGIN,
                "Migrate state to a secure HTTP-only cookie with SameSite=None; Secure flags, or implement a "
                "dedicated state management service that syncs via authenticated API calls. If using cookies, "
                "ensure the Domain attribute matches the root domain to allow cross-subdomain access.",
            ),
            (
                EDGE_ORIGIN,
                "Never rely on client-side storage for cross-origin persistence without explicit origin alignment.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.STALE_SESSION: Remedy(
        RECOVERY,
        (
            (
                RECOVERY,
                "When designing storage, prefer localStorage for conversationId and participantId, but pair it "
                "with a TTL check. If the stored timestamp exceeds the platform\u2019s inactivity timeout (default "
                "15 minutes for web messaging), force a server validation before attempting reconnection.",
            ),
            (
                RECOVERY,
                "This pattern prevents resource leaks and ensures that WEM accurately tracks session duration and "
                "drop-off points.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.GHOST_SESSION: Remedy(
        EDGE_SILENT,
        (
            (
                EDGE_SILENT,
                "Implement explicit application-layer heartbeat validation. Configure the client to send periodic "
                "ping frames and validate pong responses within a 5-second window. If three consecutive pings "
                "fail, force a reconnection with exponential backoff.",
            ),
            (
                RECOVERY,
                "Validation on load ensures that you only resume conversations that are still alive in the "
                "routing engine.",
            ),
        ),
        Severity.CRITICAL,
    ),
    FindingKind.SILENT_SOCKET: Remedy(
        EDGE_SILENT,
        (
            (
                EDGE_SILENT,
                "Implement explicit application-layer heartbeat validation. Configure the client to send periodic "
                "ping frames and validate pong responses within a 5-second window. If three consecutive pings "
                "fail, force a reconnection with exponential backoff. Configure your reverse proxy to pass "
                "Connection: Upgrade and Sec-WebSocket-* headers without modification. Set proxy idle timeouts to "
                "exceed the platform\u2019s keepalive interval by at least 30 seconds.",
            ),
        ),
        Severity.CRITICAL,
    ),
    FindingKind.RECONNECT_STORM: Remedy(
        RECONNECTION,
        (
            (
                RECONNECTION,
                "When the WebSocket drops, the client must switch to HTTP polling or exponential backoff reconnection.",
            ),
            (
                EDGE_SILENT,
                "If three consecutive pings fail, force a reconnection with exponential backoff.",
            ),
            (
                EDGE_SILENT,
                "Use fallback HTTP polling during reconnection attempts to prevent UI freezes.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.DUPLICATE_MESSAGE: Remedy(
        RECONNECTION,
        (
            (
                RECONNECTION,
                "If the client retransmits a message during reconnection, it must include an idempotency header "
                "to prevent the server from processing duplicates.",
            ),
            (
                RECONNECTION,
                "You must enforce idempotency at the client level using X-Idempotency-Key or platform-specific "
                "sequence numbers. The server caches idempotency keys for a finite window (typically 24 hours) and "
                "returns 200 OK with the original messageId if a duplicate key is detected.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.CURSOR_DRIFT: Remedy(
        EDGE_CURSOR,
        (
            (
                RECONNECTION,
                "Never rely on timestamps for cursor pagination. Timestamps are not unique and drift across server "
                "clusters. Cursor-based pagination with afterId provides deterministic ordering even during "
                "high-throughput message bursts.",
            ),
            (
                EDGE_CURSOR,
                "Always validate that returned messageId values are strictly greater than the cursor before "
                "updating local state.",
            ),
            (
                EDGE_CURSOR,
                "If gaps are detected, issue a full history sync using GET "
                "/api/v2/messaging/conversations/{conversationId}/messages without a cursor, then rebuild the "
                "local transcript.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.CONTEXT_LOST_ON_HANDOFF: Remedy(
        HANDOFFS,
        (
            (
                HANDOFFS,
                "Routing context must be attached to the conversation object, not the participant object. When "
                "the conversation is created, include customAttributes and routingData at the conversation level. "
                "When a handoff occurs, the platform preserves conversation-level attributes across the transfer.",
            ),
            (
                HANDOFFS,
                "When you design routing logic, always write context to the conversation object using "
                "customAttributes. Read context from the conversation object during flow execution.",
            ),
        ),
        Severity.CRITICAL,
    ),
    FindingKind.PARTICIPANT_SCOPED_CONTEXT: Remedy(
        HANDOFFS,
        (
            (
                HANDOFFS,
                "Participant-level attributes are scoped to the specific interaction and are discarded when the "
                "participant leaves.",
            ),
            (
                HANDOFFS,
                "Routing context must be attached to the conversation object, not the participant object.",
            ),
            (
                HANDOFFS,
                "When you design routing logic, always write context to the conversation object using "
                "customAttributes.",
            ),
        ),
        Severity.WARNING,
    ),
    FindingKind.EVENT_AFTER_CLOSE: Remedy(
        RECOVERY,
        (
            (
                RECOVERY,
                "The platform treats the server as the authoritative state machine. Client storage is a cache, "
                "not a record.",
            ),
            (
                RECOVERY,
                "If the conversation is closed, expired, or not found, initialize a new conversation.",
            ),
        ),
        Severity.WARNING,
    ),
}
