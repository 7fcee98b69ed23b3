"""Benchmark: the set-based expiry sweep against a hand-written UPDATE, on PostgreSQL, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/console .venv/bin/python bench/expire_stale.py \\
        [--conversations 100000] [--stale-percent 10] [--rounds 3]

It creates a throwaway database (bench_<name>), fills it with open conversations of which a share is
idle past the default TTL, and times per round:

* baseline: ``UPDATE ... SET state = 'expired' ... WHERE state IN (...) AND last_activity_at < cutoff``
  (the bare state change, no receipts or audit rows), rolled back;
* sweep: ``conversations.actions.expire_stale()`` (state change + console receipts, in batches of
  EXPIRY_EVENTS_PER_RECEIPT events + one audit row per conversation + the live pushes after commit),
  then undone for the next round.

It prints the medians and their ratio; the target is a ratio of at most 3. The live pushes the sweep
sends after its commit (one conversation.updated per expired conversation) are timed apart and
reported beside it: they hold no lock and touch no table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("CONSOLE_ENV_FILE", "/nonexistent")
os.environ.pop("REDIS_URL", None)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from console.models import AuditEntry  # noqa: E402
from conversations import events as conversations_events  # noqa: E402
from conversations.actions import EXPIRY_EVENTS_PER_RECEIPT, expire_stale  # noqa: E402
from conversations.models import Conversation, WebhookReceipt  # noqa: E402

CONVERSATIONS = Conversation._meta.db_table


def populate(total: int, stale: int, ttl: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {CONVERSATIONS} (id, source, tenant, channel, state, queue_id, routing_data,
                custom_attributes, customer_key, started_at, first_event_at, activity_at, last_activity_at,
                last_inbound_at, closed_at, close_reason, last_sequence, ttl_seconds, versions, created_at, updated_at)
            SELECT 'bench-' || n, 'native', 'acme', 'web', CASE WHEN n %% 3 = 0 THEN 'pending' ELSE 'active' END,
                'q' || (n %% 20), '{{"queueId": "q1"}}', '{{}}', 'cust-' || n, at, at, at, at, NULL, NULL, '', n %% 50,
                NULL, '{{}}', at, at
            FROM (
                SELECT n, now() - CASE WHEN n <= %s THEN make_interval(secs => %s + 60 + n %% 600)
                                        ELSE make_interval(secs => n %% %s) END AS at
                FROM generate_series(1, %s) AS n
            ) AS rows
            """,
            [stale, ttl, max(1, ttl - 60), total],
        )
        cursor.execute(f"ANALYZE {CONVERSATIONS}")


def reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CONVERSATIONS} SET state = CASE WHEN (substr(id, 7)::int) % 3 = 0 THEN 'pending' "
            "ELSE 'active' END, closed_at = NULL, close_reason = '' WHERE state = 'expired'"
        )
        cursor.execute(f"DELETE FROM {WebhookReceipt._meta.db_table}")
        cursor.execute(f"DELETE FROM {AuditEntry._meta.db_table}")
    vacuum()


def vacuum() -> None:
    with connection.cursor() as cursor:
        for table in (CONVERSATIONS, WebhookReceipt._meta.db_table, AuditEntry._meta.db_table):
            cursor.execute(f"VACUUM ANALYZE {table}")


def baseline(ttl: int) -> tuple[float, int]:
    cutoff = timezone.now() - timezone.timedelta(seconds=ttl)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CONVERSATIONS} SET state = 'expired', closed_at = now(), close_reason = 'inactivity_ttl', "
            "updated_at = now() WHERE state IN ('pending', 'active') AND last_activity_at < %s",
            [cutoff],
        )
        count = cursor.rowcount
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed, count


def sweep() -> tuple[float, float, int]:
    """The sweep's own work (statement, commit, items), then its live pushes after commit, timed apart."""
    pushed: list[dict] = []
    send = conversations_events.lifecycle_changed
    conversations_events.lifecycle_changed = pushed.extend
    try:
        started = time.perf_counter()
        expired = expire_stale()
        swept = time.perf_counter() - started
    finally:
        conversations_events.lifecycle_changed = send
    started = time.perf_counter()
    with transaction.atomic():
        send(pushed)  # the on-commit pushes run as this block commits
    return swept, time.perf_counter() - started, len(expired)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--stale-percent", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if connection.vendor != "postgresql":
        print("this benchmark needs DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    ttl = settings.CONSOLE_SESSION_TTL_SECONDS
    stale = int(options.conversations * options.stale_percent / 100)
    name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_{name}"
    creation = connection.creation
    old_name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        print(f"database bench_{name}: {options.conversations} open conversations, {stale} idle past {ttl} s")
        started = time.perf_counter()
        populate(options.conversations, stale, ttl)
        vacuum()
        print(f"populated in {time.perf_counter() - started:.1f}s")
        base_times, sweep_times, push_times = [], [], []
        for round_number in range(1, options.rounds + 1):
            base_time, base_count = baseline(ttl)
            vacuum()
            sweep_time, push_time, sweep_count = sweep()
            if (base_count, sweep_count) != (stale, stale):
                print(f"unexpected counts: baseline {base_count}, sweep {sweep_count}, expected {stale}")
                return 1
            receipts = WebhookReceipt.objects.filter(source="console").count()
            if AuditEntry.objects.count() != stale or receipts != -(-stale // EXPIRY_EVENTS_PER_RECEIPT):
                print(f"unexpected rows: {AuditEntry.objects.count()} audit rows, {receipts} console receipts")
                return 1
            base_times.append(base_time)
            sweep_times.append(sweep_time)
            push_times.append(push_time)
            print(
                f"round {round_number}: hand-written UPDATE {base_time * 1000:.0f} ms, "
                f"expire_stale {sweep_time * 1000:.0f} ms ({sweep_time / base_time:.2f}x), "
                f"then live pushes {push_time * 1000:.0f} ms"
            )
            reset()
        base, swept, pushes = (statistics.median(times) for times in (base_times, sweep_times, push_times))
        ratio = swept / base
        print(
            f"median for {stale} conversations: hand-written UPDATE {base * 1000:.0f} ms, expire_stale "
            f"{swept * 1000:.0f} ms: {ratio:.2f}x (target <= 3x); with its live pushes after commit "
            f"{(swept + pushes) * 1000:.0f} ms ({(swept + pushes) / base:.2f}x, in-memory channel layer)"
        )
        return 0 if ratio <= 3 else 1
    finally:
        creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
