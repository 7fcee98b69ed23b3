"""PostgreSQL restarted in the middle of ingestion (issue 10, item 3).

A private PostgreSQL cluster (never the machine's shared server) holds the console schema; two uvicorn
processes serve webhooks from it, one with psycopg's connection pool (``DATABASE_POOL_SIZE``, as the
demo runs) and one with persistent connections (``CONN_MAX_AGE`` + ``CONN_HEALTH_CHECKS``, the
default). Clients that behave like a platform (one ordered stream per conversation, streams 0 and 2 to
the first server, 1 and 3 to the second; a 5xx or a connection error is retried later with the same
webhook-id) send a bounded stream while the cluster is stopped with ``-m immediate`` (a crash: recovery
on start) and started again. Promise: every event is
stored exactly once, none lost, none doubled; while the database is down the servers answer 503
problem+json (never a 500); both recover without a restart.

Observed: the persistent-connection server answers 503 at once while the database is down and 200 as
soon as it is back (CONN_HEALTH_CHECKS drops the dead connection at the next request). The pooled one
holds a request up to the pool timeout (10 s) waiting for a connection, then answers 503 (or 200 when
the database came back meanwhile), and reconnects with psycopg_pool's backoff. A request whose commit
reached the database just before the crash may still be answered 503 (the server never learnt that it
committed); its retry is then a duplicate: stored once, as the contract wants.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg
import pytest
from django.conf import settings

from tests.conftest import require_service
from tests.reliability.processes import (
    ROOT,
    ConsoleServer,
    NativeSender,
    PostgresCluster,
    console_env,
    postgres_bin_dir,
    wait_until,
)
from tests.webhooks import event

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CONVERSATIONS = 4
EVENTS_PER_CONVERSATION = 30  # started, customer joined, 28 messages
PAUSE_BETWEEN_DELIVERIES = 0.12  # per stream: the whole stream lasts several seconds, the outage lands inside
OUTAGE_SECONDS = 2


@pytest.fixture
def cluster():
    bin_dir = postgres_bin_dir()
    require_service("postgresql binaries", bin_dir is not None, "no /usr/lib/postgresql/*/bin/initdb")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.init()
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE console")
        yield cluster
    finally:
        cluster.destroy()


def stream(conversation: str) -> list[dict]:
    events = [
        event(f"{conversation}-1", "conversation.started", conversation, 1, {"channel": "web", "tenant": "t1"}),
        event(f"{conversation}-2", "participant.joined", conversation, 2, {"participantId": "cu", "role": "customer"}),
    ]
    for seq in range(3, EVENTS_PER_CONVERSATION + 1):
        data = {"messageId": f"m-{seq}", "participantId": "cu", "direction": "inbound", "text": f"line {seq}"}
        events.append(event(f"{conversation}-{seq}", "message.created", conversation, seq, data))
    return events


def counts(url: str) -> dict:
    with psycopg.connect(url) as db:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "accepted": one(
                "SELECT count(*) FROM conversations_webhookreceipt"
                " WHERE source = 'native' AND outcome IN ('applied', 'stale', 'ignored')"
            ),
            "distinct_events": one(
                "SELECT count(DISTINCT event_id) FROM conversations_webhookreceipt"
                " WHERE source = 'native' AND outcome IN ('applied', 'stale', 'ignored')"
            ),
            "failed": one("SELECT count(*) FROM conversations_webhookreceipt WHERE outcome = 'failed'"),
            "messages": one("SELECT count(*) FROM conversations_message"),
            "distinct_messages": one("SELECT count(DISTINCT (conversation_id, message_id)) FROM conversations_message"),
            "conversations": one("SELECT count(*) FROM conversations_conversation"),
        }


def test_a_database_restart_mid_ingestion_loses_and_doubles_nothing(cluster, tmp_path):
    database_url = cluster.url("console")
    env = console_env(database_url, CONSOLE_DETECTOR_DEBOUNCE_SECONDS="0")
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    servers = [
        ConsoleServer({**env, "DATABASE_POOL_SIZE": "4"}, tmp_path / "uvicorn-pool.log"),
        ConsoleServer(env, tmp_path / "uvicorn-persistent.log"),
    ]
    sender = NativeSender(settings.CONSOLE_WEBHOOK_SECRETS[0])
    try:
        for server in servers:
            server.wait_ready()
        delivered: list[tuple[float, str, int, dict]] = []
        failures: list[BaseException] = []

        def send(conversation: str, base: str) -> None:
            try:
                for payload in stream(conversation):
                    response = sender.deliver(base, payload)
                    delivered.append((time.monotonic(), base, response.status_code, response.json()))
                    time.sleep(PAUSE_BETWEEN_DELIVERIES)
            except Exception as error:  # noqa: BLE001 - re-raised by the test thread
                failures.append(error)

        threads = [threading.Thread(target=send, args=(f"c-db-{n}", servers[n % 2].url)) for n in range(CONVERSATIONS)]
        for thread in threads:
            thread.start()
        total = CONVERSATIONS * EVENTS_PER_CONVERSATION
        wait_until(lambda: len(delivered) >= total // 4 or failures, 30, "a quarter of the stream to be stored")
        assert len(delivered) < total // 2, "the stream ended too early to be cut by the restart"

        cluster.stop("immediate")  # a crash: in-flight transactions die, recovery runs on start
        stopped_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)  # the outage itself: the platforms keep sending meanwhile
        cluster.start()
        restarted_at = time.monotonic()

        for thread in threads:
            thread.join(timeout=90)
        assert not any(thread.is_alive() for thread in threads), "a stream did not finish within 90 s"
        assert not failures, failures[0]
        assert all(server.process.poll() is None for server in servers), "a server died with the database"
    finally:
        sender.close()
        for server in servers:
            server.stop()

    # Every delivery ended 2xx; none was refused (a 4xx would be final: the event lost).
    assert len(delivered) == total
    assert {status for _, _, status, _ in delivered} == {200}
    assert {answer["status"] for _, _, _, answer in delivered} <= {"applied", "duplicate"}

    # While the database was down the servers said "retry later" properly: 503 problem+json, never a 500.
    during = [attempt for attempt in sender.attempts if stopped_at <= attempt[6] <= restarted_at]
    problems = [attempt for attempt in during if attempt[3] == 503]
    assert problems, f"no delivery was attempted while the database was down: {during[:5]}"
    server_errors = [attempt for attempt in sender.attempts if isinstance(attempt[3], int) and attempt[3] >= 500]
    assert {attempt[3] for attempt in server_errors} == {503}, [a for a in server_errors if a[3] != 503][:3]
    assert {attempt[4] for attempt in server_errors} == {"application/problem+json"}
    assert all("Traceback" not in attempt[5] for attempt in server_errors)
    # Both servers (the pooled one and the persistent-connection one) answered 2xx after the restart
    # without being restarted themselves.
    for server in servers:
        assert any(base == server.url and at > restarted_at for at, base, _, _ in delivered), server.output()[-3000:]

    # Stored exactly once: one accepted receipt per event, every message once.
    stored = counts(database_url)
    assert stored == {
        "accepted": total,
        "distinct_events": total,
        "failed": 0,
        "messages": CONVERSATIONS * (EVENTS_PER_CONVERSATION - 2),
        "distinct_messages": CONVERSATIONS * (EVENTS_PER_CONVERSATION - 2),
        "conversations": CONVERSATIONS,
    }, stored
