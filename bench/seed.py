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
FROM (SELECT n, now() - (n %% %(spread)s) * interval '1 second' - interval '1 minute' AS at
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


def conversations(
    database: str, first: int, last: int, *, participants: bool = True, spread_seconds: int = 7200
) -> None:
    """Activity spread over ``spread_seconds`` before now (7200: most open ones are past the 15 min TTL)."""
    with psycopg.connect(common.db_url(database), autocommit=True) as conn:
        conn.execute(CONVERSATIONS_SQL, {"first": first, "last": last, "spread": spread_seconds})
        if participants:
            conn.execute(PARTICIPANTS_SQL, {"first": first, "last": last})


def findings(database: str, first: int, last: int) -> None:
    with psycopg.connect(common.db_url(database), autocommit=True) as conn:
        conn.execute(FINDINGS_SQL, {"first": first, "last": last, "kinds": KINDS})


def analyze(database: str) -> None:
    with psycopg.connect(common.db_url(database), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


DEPLOYMENT_SQL = """
INSERT INTO diagnostics_widgetdeployment
    (key, name, allowed_origins, session_ttl_seconds, ghost_grace_seconds, pong_window_seconds,
     missed_pongs_threshold, duplicate_message_window_seconds, created_at)
VALUES ('wd_bench', 'Bench widgets', '["https://www.example.com"]', NULL, NULL, NULL, NULL, NULL, now())
ON CONFLICT (key) DO NOTHING
"""

# Per open conversation: a validated session.init and three socket beacons (open, heartbeat, heartbeat);
# every 50th conversation's widget misses three pongs (a silent socket for the detectors to find).
BEACONS_SQL = """
INSERT INTO diagnostics_telemetrybeacon
    (deployment_id, beacon_id, kind, session_key, conversation_id, participant_id, origin, sent_at, received_at,
     payload)
SELECT d.id, 'b' || n || '-' || k, CASE WHEN k = 0 THEN 'session.init' ELSE 'socket.state' END, 'sess-' || n, 's' || n,
       CASE WHEN k = 0 THEN '' ELSE 's' || n || '-customer' END, 'https://www.example.com',
       now() - interval '50 seconds' + k * interval '10 seconds', now(),
       CASE WHEN k = 0 THEN jsonb_build_object('origin', 'https://www.example.com', 'storage', 'local',
                                               'storedConversationId', 's' || n, 'validated', true,
                                               'validationResult', 'resumed', 'conversationId', 's' || n)
            WHEN k = 1 THEN jsonb_build_object('event', 'open', 'readyState', 1)
            WHEN n %% 50 = 0 THEN jsonb_build_object('event', 'pong_missed', 'readyState', 1, 'missedPongs', k + 0)
            ELSE jsonb_build_object('event', 'heartbeat', 'readyState', 1, 'rttMs', 40) END
FROM generate_series(%(first)s::int, %(last)s::int) AS n, generate_series(0, 3) AS k,
     (SELECT id FROM diagnostics_widgetdeployment WHERE key = 'wd_bench') AS d
WHERE n %% 5 <> 4  -- closed conversations' widgets went quiet before the close
"""

MESSAGES_SQL = """
INSERT INTO conversations_message
    (conversation_id, message_id, sequence, participant_id, direction, text, idempotency_key, created_at,
     received_at, event_id)
SELECT 's' || n, 'm' || k, k, 's' || n || CASE WHEN k %% 2 = 0 THEN '-agent' ELSE '-customer' END,
       CASE WHEN k %% 2 = 0 THEN 'outbound' ELSE 'inbound' END, 'message ' || k || ' of ' || n, 'k' || n || '-' || k,
       now() - interval '2 minutes' + k * interval '5 seconds', now(), 'e' || n || '-' || k
FROM generate_series(%(first)s::int, %(last)s::int) AS n, generate_series(1, 4) AS k
"""


def telemetry(database: str, first: int, last: int) -> None:
    """Widget telemetry and a few messages for conversations s<first>..s<last>."""
    with psycopg.connect(common.db_url(database), autocommit=True) as conn:
        conn.execute(DEPLOYMENT_SQL)
        conn.execute(BEACONS_SQL, {"first": first, "last": last})
        conn.execute(MESSAGES_SQL, {"first": first, "last": last})
