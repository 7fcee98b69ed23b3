"""``manage.py replay_events`` on a copy rebuilds the same mirror (issue 10, item 7).

What the command promises (its --help, docs/architecture.md "Receipts and replay"): re-applied in
arrival order, the accepted receipts change nothing on a populated mirror; with ``--reset`` the
mirror is emptied and rebuilt from the receipts alone (socket health from telemetry is lost until
widgets report again).

The mirror is built through the webhook endpoints of the three platforms (out of order, with
duplicates and a refused delivery), telemetry, an interactive force-close, an expiry sweep and a
late event for an expired conversation. The database is then copied by PostgreSQL itself
(``CREATE DATABASE ... TEMPLATE``) and the command runs in its own process against the copy only.
Every mirror table of the copy is then compared row by row, column by column, with the original
(only surrogate ids, row timestamps and the socket-health columns the command says it loses are left
out), and the original is checked to be untouched.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from conversations.actions import expire_stale, force_close
from conversations.models import ContextChange, Conversation, Handoff, Message, Participant, WebhookReceipt
from diagnostics.actions import create_deployment
from tests.conversations import test_webhook_cxone as cxone
from tests.conversations import test_webhook_genesys as genesys
from tests.conversations.lifecycle import start_conversation
from tests.conversations.test_ordering_property import STREAM
from tests.reliability.processes import ROOT, database_url_for_children, wait_until
from tests.webhooks import event, post_cxone, post_genesys, post_native

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Telemetry-derived columns: replay_events --reset says they are lost until the detectors run again.
SOCKET_HEALTH = {"socket_state", "last_heartbeat_at", "missed_pongs", "rtt_ms", "reconnects", "origin"}
# Order-key bookkeeping, not state: the expiry sweep leaves it alone and the next event of an expired
# conversation restores the terminal fact from the row (docs/architecture.md, "Console transitions"),
# while a replay applies the sweep's console event and so writes it at once.
BOOKKEEPING = {"versions"}
# (model, natural order): every mirror table.
MIRROR_TABLES = [
    (Conversation, ("id",)),
    (Participant, ("conversation_id", "participant_id")),
    (Message, ("conversation_id", "message_id")),
    (Handoff, ("conversation_id", "key")),
    (ContextChange, ("conversation_id", "event_id")),
]


def _columns(model) -> list[str]:
    """Every column but surrogate ids, the times rows were written (auto_now/auto_now_add: created_at,
    updated_at, a message's received_at), the bookkeeping and the socket health left out above."""
    skipped = BOOKKEEPING | (SOCKET_HEALTH if model is Participant else set())
    return [
        field.column
        for field in model._meta.concrete_fields
        if field.column not in skipped
        and not getattr(field, "auto_now", False)
        and not getattr(field, "auto_now_add", False)
        and not (field.primary_key and model is not Conversation)
    ]


def _dsn(database: str) -> str:
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        dbname=database,
    )


def _tables(database: str) -> dict[str, list[tuple]]:
    """Every mirror table, and the receipts, of one database, read with plain SQL (same query for both)."""
    rows = {}
    with psycopg.connect(_dsn(database)) as conn:
        for model, order in [*MIRROR_TABLES, (WebhookReceipt, ("id",))]:
            columns = (
                _columns(model) if model is not WebhookReceipt else [f.column for f in model._meta.concrete_fields]
            )
            table = model._meta.db_table
            query = f'SELECT {", ".join(columns)} FROM "{table}" ORDER BY {", ".join(order)}'
            rows[table] = [dict(zip(columns, row, strict=True)) for row in conn.execute(query).fetchall()]
    return rows


def _differences(copy: dict, original: dict) -> list[str]:
    problems = []
    for table, rows in original.items():
        theirs = copy[table]
        if len(theirs) != len(rows):
            problems.append(f"{table}: {len(theirs)} rows on the copy, {len(rows)} in the original")
        for mine, want in zip(theirs, rows, strict=False):
            if mine != want:
                fields = sorted(name for name in want if mine.get(name) != want.get(name))
                problems.append(
                    f"{table} {[want[name] for name in list(want)[:2]]}: "
                    + ", ".join(f"{name}={mine[name]!r} (original {want[name]!r})" for name in fields)
                )
    return problems[:20]


def _build_mirror() -> None:
    client = Client()
    # Native: two conversations delivered newest first, then a few redeliveries (duplicates).
    for payload in reversed(STREAM):
        assert post_native(client, payload).status_code == 200
    for payload in STREAM[:3]:
        assert post_native(client, payload).json()["status"] == "duplicate"
    # A refused delivery (bad signature): a receipt without a body, never replayed.
    assert post_native(client, STREAM[0], secret="whsec_d3Jvbmctc2VjcmV0LTAxMjM0NTY3ODk=").status_code == 401
    for payload in genesys.transfer_stream():
        assert post_genesys(client, payload).status_code == 200
    for payload in cxone.stream():
        assert post_cxone(client, payload).status_code == 200
    # Telemetry: a widget deployment with its own TTL adopts the conversation its beacons name.
    deployment = create_deployment(name="Shop", origins=["https://shop.example"], ttl_seconds=600, actor="test")
    start_conversation(client, "c-widget", active=True)
    beacon = {
        "id": "b-1",
        "kind": "socket.state",
        "sessionKey": "s-1",
        "sentAt": timezone.now().isoformat(),
        "conversationId": "c-widget",
        "participantId": "c-widget-agent",
        "event": "heartbeat",
        "readyState": 1,
        "rttMs": 30,
    }
    response = client.post(
        "/telemetry/",
        data=json.dumps({"beacons": [beacon]}),
        content_type="application/json",
        HTTP_X_DEPLOYMENT_KEY=deployment.key,
        HTTP_ORIGIN="https://shop.example",
    )
    assert response.status_code == 202, response.content
    # An interactive force-close (no platform configured: closed in the mirror), then the expiry sweep
    # of every conversation still open (their events are days old), then a late event for one of them.
    start_conversation(client, "c-forced", active=True)
    assert force_close("c-forced", reason="ghost", actor="user:admin").status == "closed"
    start_conversation(client, "c-idle-1")
    start_conversation(client, "c-idle-2", active=True)
    expired = {item["conversationId"] for item in expire_stale()}
    assert {"c-idle-1", "c-idle-2", "c-widget"} <= expired
    late = event(
        "c-idle-1-late",
        "message.created",
        "c-idle-1",
        9,
        {"messageId": "m-late", "direction": "inbound", "text": "hello?"},
    )
    assert post_native(client, late).status_code == 200


def _copy_database(source: str, target: str) -> None:
    """CREATE DATABASE ... TEMPLATE: PostgreSQL's own file-level copy (no session may use the source)."""
    connections.close_all()
    with psycopg.connect(_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target}"')

        def copied() -> bool:
            try:
                admin.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
            except psycopg.errors.ObjectInUse:  # a backend of the source is still closing
                return False
            return True

        wait_until(copied, 15, f"a copy of {source}", interval=0.2)


def _drop_database(name: str) -> None:
    with psycopg.connect(_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _replay_events(database: str, *options: str) -> str:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    test_database = database_url_for_children()
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=test_database.rsplit("/", 1)[0] + "/" + database,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "replay_events", "--noinput", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def copy_name():
    name = f"{connection.settings_dict['NAME']}_replay_copy"[:63]
    yield name
    _drop_database(name)


def test_replay_events_on_a_copy_rebuilds_every_mirror_row_and_leaves_the_original_alone(copy_name):
    _build_mirror()
    original_name = connection.settings_dict["NAME"]
    original = _tables(original_name)
    assert len(original[Conversation._meta.db_table]) == 8
    assert sum(1 for row in original[WebhookReceipt._meta.db_table] if row["outcome"] == "duplicate") == 3

    _copy_database(original_name, copy_name)
    copied_at = timezone.now()
    assert _tables(copy_name) == original  # the copy starts identical

    # On a populated mirror, a replay changes nothing.
    output = _replay_events(copy_name)
    assert "replayed" in output and "reset" not in output
    assert not _differences(_tables(copy_name), original), _differences(_tables(copy_name), original)

    # With --reset the copy's mirror is deleted and rebuilt from its receipts alone.
    output = _replay_events(copy_name, "--reset")
    assert "reset: deleted" in output, output
    rebuilt = _tables(copy_name)
    problems = _differences(rebuilt, original)
    assert not problems, "\n".join(problems)
    with psycopg.connect(_dsn(copy_name)) as conn:
        oldest = conn.execute(f'SELECT min(created_at) FROM "{Conversation._meta.db_table}"').fetchone()[0]
    assert oldest > copied_at, "the copy's conversations were not rebuilt by the replay"

    # The TTL a widget deployment gave a conversation comes from telemetry, not from receipts: the
    # rebuild takes it again from the stored beacons (compared above; named here as the one at risk).
    widget = next(row for row in rebuilt[Conversation._meta.db_table] if row["id"] == "c-widget")
    assert widget["ttl_seconds"] == 600

    # The original was never touched.
    assert _tables(original_name) == original


def test_reset_cannot_be_limited_to_one_source():
    """--reset empties the whole mirror: rebuilt from one source's receipts, the others would be lost."""
    start_conversation(Client(), "c-kept")
    with pytest.raises(CommandError, match="cannot be combined with --source"):
        call_command("replay_events", reset=True, source="genesys", noinput=True, stdout=io.StringIO())
    assert Conversation.objects.filter(pk="c-kept").exists()
