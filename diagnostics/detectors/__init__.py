"""Finding detectors: one module per family, each a pure function of loaded facts.

A family module exposes ``KINDS`` and ``detect(facts) -> {kind: Detection | Clear}`` for a
conversation subject (``facts`` is a ConversationFacts); the liveness family also has
``detect_session`` for beacons that name no conversation (subject ``session:<key>``).
Detectors read nothing from the database themselves (detectors/facts.py loads what they
need for a whole chunk of subjects at once) and write nothing: diagnostics.actions turns
their verdicts into findings, so that re-running a detector changes nothing.

The definitions they implement are in docs/architecture.md ("Definitions the detectors
share" and "Diagnostics").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from conversations.ingest.canonical import format_instant


@dataclass(frozen=True)
class Detection:
    """The condition holds. ``facts`` identify the occurrence (digested into the fingerprint)."""

    kind: str
    evidence: dict
    facts: Any
    count: int = 1
    participant_id: str = ""
    session_key: str = ""
    severity: str = ""
    # The cause already went away (a stale session the platform or the console expired): the
    # finding is recorded for the record and resolved at once with this note.
    resolved_note: str = ""

    @property
    def fingerprint(self) -> str:
        digest = json.dumps([self.kind, self.facts], sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(digest.encode()).hexdigest()


@dataclass(frozen=True)
class Clear:
    """The condition does not hold; ``note`` says why (written on a finding this resolves)."""

    note: str


@dataclass(frozen=True)
class Thresholds:
    """Settings, overridden per widget deployment where the deployment sets a value."""

    ghost_grace_seconds: int
    pong_window_seconds: int
    missed_pongs: int
    duplicate_message_window_seconds: int
    heartbeat_timeout_seconds: int = field(default_factory=lambda: settings.CONSOLE_HEARTBEAT_TIMEOUT_SECONDS)
    storm_attempts: int = field(default_factory=lambda: settings.CONSOLE_RECONNECT_STORM_ATTEMPTS)
    backoff_cap_ms: int = field(default_factory=lambda: settings.CONSOLE_RECONNECT_BACKOFF_CAP_MS)

    @classmethod
    def of(cls, deployment=None) -> Thresholds:
        def pick(name: str, setting: str) -> int:
            value = getattr(deployment, name, None) if deployment is not None else None
            return value if value else getattr(settings, setting)

        return cls(
            ghost_grace_seconds=pick("ghost_grace_seconds", "CONSOLE_GHOST_GRACE_SECONDS"),
            pong_window_seconds=pick("pong_window_seconds", "CONSOLE_PONG_WINDOW_SECONDS"),
            missed_pongs=pick("missed_pongs_threshold", "CONSOLE_MISSED_PONGS_THRESHOLD"),
            duplicate_message_window_seconds=pick(
                "duplicate_message_window_seconds", "CONSOLE_DUPLICATE_MESSAGE_WINDOW_SECONDS"
            ),
        )


def instant(moment: datetime | None) -> str | None:
    """Evidence timestamps: fixed-width UTC ISO 8601 (as order keys are written), or None."""
    return format_instant(moment) if moment is not None else None


EVIDENCE_LIST_LIMIT = 20


def capped(items: list) -> list:
    """Evidence lists stay readable and bounded; the finding's count says how many there were."""
    return items[:EVIDENCE_LIST_LIMIT]
