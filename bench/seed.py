"""Bulk data for the benchmarks, written with generate_series in a few statements (never through the API).

Conversations ``s<n>`` (60 % active, 20 % pending, 20 % closed; activity spread over the last two
hours), each with a customer and an agent participant; findings on the first conversations
(70 % open); optionally socket telemetry for every conversation.
"""

from __future__ import annotations

import psycopg

from bench import common

CONVERSATIONS_SQL = """
INSERT INTO conversations_conversation
    (id, source, tenant, channel, state, queue_id, routing_data, custom_attributes, customer_key, started_at,
     first_event_at, activity_at, last_activity_at, last_inbound_at, closed_at, close_reason, last_sequence,
     ttl_seconds, versions, created_at, updated_at)
SELECT 's' || n, 'native', 'tenant-' || (n %% 5), 'webchat',
       CASE WHEN n %% 5 IN (0, 1, 2) THEN 'active' WHEN n %% 5 = 3 THEN 'pending' ELSE 'closed' END,
       'q-' || (n %% 20), jsonb_build_object('queueId', 'q-' || (n %% 20), 'priority', n %% 10),
       '{}'::jsonb, 'cust-' || n, at, at, at, at, at,
       CASE WHEN n %% 5 = 4 THEN at END, CASE WHEN n %% 5 = 4 THEN 'ended' ELSE '' END, 10, NULL, '{}'::jsonb,
       at, at
FROM (SELECT n, now() - (n %% 7200) * interval '1 second' - interval '1 minute' AS at
      FROM generate_series(%(first)s::int, %(last)s::int) AS n) AS rows
"""

PARTICIPANTS_SQL = """
INSERT INTO conversations_participant
    (conversation_id, participant_id, role, name, user_id, queue_id, state, joined_at, left_at, disconnect_type,
     attributes, versions, socket_state, last_heartbeat_at, missed_pongs, rtt_ms, reconnects, origin)
SELECT 's' || n, 's' || n || '-' || role, role, '', '', '', 'connected', now(), NULL, '', '{}'::jsonb, '{}'::jsonb,
       CASE WHEN role = 'customer' THEN (ARRAY['open', 'open', 'open', 'silent', 'closed', 'reconnecting'])[n %% 6 + 1]
            ELSE 'unknown' END,
       now(), CASE WHEN n %% 6 = 3 AND role = 'customer' THEN 3 ELSE 0 END, 40, 0, 'https://www.example.com'
FROM generate_series(%(first)s::int, %(last)s::int) AS n, unnest(ARRAY['customer', 'agent']) AS role
"""

KINDS = [
    "duplicate_conversation",
    "unvalidated_resume",
    "stale_session",
    "ghost_session",
    "silent_socket",
    "duplicate_message",
    "context_lost_on_handoff",
]

FINDINGS_SQL = """
INSERT INTO diagnostics_finding
    (kind, severity, status, subject, conversation_id, participant_id, session_key, evidence, remediation,
     guide_section, first_seen, last_seen, count, resolved_at, resolved_by, resolution_note, fingerprint)
SELECT (%(kinds)s::text[])[n %% 7 + 1], CASE WHEN n %% 3 = 0 THEN 'critical' ELSE 'warning' END,
       CASE WHEN n %% 10 < 7 THEN 'open' ELSE 'resolved' END,
       'conversation:s' || n, 's' || n, '', '', jsonb_build_object('n', n), 'remedy text', 'section',
       now() - (n %% 3600) * interval '1 second', now() - (n %% 3600) * interval '1 second', 1,
       CASE WHEN n %% 10 >= 7 THEN now() END, CASE WHEN n %% 10 >= 7 THEN 'user:bench' ELSE '' END, '', md5(n::text)
FROM generate_series(%(first)s::int, %(last)s::int) AS n
"""


def conversations(database: str, first: int, last: int, *, participants: bool = True) -> None:
    with psycopg.connect(common.db_url(database), autocommit=True) as conn:
        conn.execute(CONVERSATIONS_SQL, {"first": first, "last": last})
        if participants:
            conn.execute(PARTICIPANTS_SQL, {"first": first, "last": last})


def findings(database: str, first: int, last: int) -> None:
    with psycopg.connect(common.db_url(database), autocommit=True) as conn:
        conn.execute(FINDINGS_SQL, {"first": first, "last": last, "kinds": KINDS})


def analyze(database: str) -> None:
    with psycopg.connect(common.db_url(database), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
