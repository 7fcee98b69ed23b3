"""3. History paging: GET messages/?afterId= on a 1,000,000-message conversation vs a 1,000-message one.

Messages are bulk-loaded with generate_series (not through the API). Each request goes through
the whole stack (OAuth2 bearer token, DRF, ETag) in-process; p50/p99 at the start, the middle
and the end of each conversation. The figure is the worst p50 ratio of the three positions.
"""

from __future__ import annotations

import time

from bench import common
from bench.common import Result, check, say

DB = common.db_name("history")
BIG, SMALL = 1_000_000, 1_000
REPEAT = 200

LOAD_SQL = """
INSERT INTO conversations_conversation
    (id, source, tenant, channel, state, queue_id, routing_data, custom_attributes, customer_key, started_at,
     first_event_at, activity_at, last_activity_at, last_inbound_at, closed_at, close_reason, last_sequence,
     ttl_seconds, versions, created_at, updated_at)
VALUES (%(id)s, 'native', 'acme', 'webchat', 'active', '', '{}', '{}', '', now(), now(), now(), now(), now(), NULL,
        '', %(n)s, NULL, '{}', now(), now());
INSERT INTO conversations_message
    (conversation_id, message_id, sequence, participant_id, direction, text, idempotency_key, created_at,
     received_at, event_id)
SELECT %(id)s, 'm' || n, n, CASE WHEN n %% 2 = 0 THEN 'p-agent' ELSE 'p-customer' END,
       CASE WHEN n %% 2 = 0 THEN 'outbound' ELSE 'inbound' END,
       'message number ' || n || ' of a long conversation, with some ordinary text in it', 'k' || n,
       now() - (%(n)s - n) * interval '1 second', now(), 'e' || n
FROM generate_series(1, %(n)s) AS n;
"""


def load(conversation_id: str, count: int) -> None:
    import psycopg

    with psycopg.connect(common.db_url(DB), autocommit=True) as conn:
        for statement in LOAD_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, {"id": conversation_id, "n": count})
        conn.execute("ANALYZE conversations_message")


def positions(count: int) -> dict[str, str | None]:
    # afterId of the first message, of the middle one, and near the end (the page holds the last 50).
    return {"start": "m1", "middle": f"m{count // 2}", "end": f"m{count - 60}"}


def main() -> Result:
    started = time.monotonic()
    load_before = common.load_average()
    common.create_database(DB)
    try:
        common.migrate(DB)
        with common.timed() as took:
            load("big", BIG)
            load("small", SMALL)
        say(f"  loaded {BIG:,} + {SMALL:,} messages in {took['seconds']:.1f} s")
        from bench import inproc

        inproc.setup(DB)
        token = inproc.bearer_token()
        browser = inproc.client()
        figures: dict[str, dict] = {}
        for position in ("start", "middle", "end"):
            senders = {}
            for name, count in (("small", SMALL), ("big", BIG)):
                url = f"/api/v1/conversations/{name}/messages/?afterId={positions(count)[position]}"
                senders[f"{name}:{position}"] = lambda url=url: browser.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
            figures.update(inproc.measure_interleaved(senders, repeat=REPEAT))
            for key in senders:
                say(f"  {key:13s} {figures[key]}")
    finally:
        common.drop_database(DB)
    ratios = {
        position: figures[f"big:{position}"]["p50_ms"] / figures[f"small:{position}"]["p50_ms"]
        for position in ("start", "middle", "end")
    }
    p99_ratios = {
        position: figures[f"big:{position}"]["p99_ms"] / figures[f"small:{position}"]["p99_ms"]
        for position in ("start", "middle", "end")
    }
    worst = max(ratios, key=ratios.get)
    same_queries = all(figures[f"big:{p}"]["queries"] == figures[f"small:{p}"]["queries"] for p in ratios)
    checks = {
        f"p50_ratio_{position}": check(round(ratio, 3), "<= 1.5", ratio <= 1.5) for position, ratio in ratios.items()
    }
    checks.update(
        {
            f"p99_ratio_{position}": check(round(ratio, 3), "<= 1.5 (p99 is noisier; reported)", True)
            for position, ratio in p99_ratios.items()
        }
    )
    checks["same_query_count"] = check(
        {key: value["queries"] for key, value in figures.items()}, "equal for both sizes", same_queries
    )
    result = Result(
        name="history",
        figure=f"p50 GET messages/?afterId= at the {worst} of 1,000,000 messages",
        value=figures[f"big:{worst}"]["p50_ms"],
        unit="ms",
        baseline="the same request on a 1,000-message conversation",
        baseline_value=figures[f"small:{worst}"]["p50_ms"],
        ratio=round(ratios[worst], 3),
        target="within 1.5x at start, middle and end",
        passed=all(item["passed"] for item in checks.values()),
        checks=checks,
        details={"figures": figures, "p50_ratios": ratios, "p99_ratios": p99_ratios, "requests_per_position": REPEAT},
        load_before=load_before,
        load_after=common.load_average(),
        seconds=round(time.monotonic() - started, 1),
    )
    result.write()
    return result


if __name__ == "__main__":
    main()
