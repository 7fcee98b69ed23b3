"""Two ``celery beat`` schedulers started by mistake (issue 10, item 6).

Both beats read the same schedule (django-celery-beat's DatabaseScheduler) and send
``expire_stale_sessions`` every second to one worker running two tasks at a time; the sweep probe holds
each sweep's transaction open for a moment, so sweeps from the two beats overlap and contend for the
same rows. Conversations go idle past their TTL in two waves (before the beats start and while they
run). Promise: each conversation is expired once, with one audit row and one console event — the sweep
claims rows with a conditional UPDATE that PostgreSQL re-checks after a concurrent sweep committed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation
from tests.console.broker import celery_broker, install_detectors_task
from tests.reliability.processes import (
    CeleryServices,
    console_env,
    database_url_for_children,
    expiry_facts,
    read_json_lines,
    schedule_every_second,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

TTL = 60
HOLD_SECONDS = 1.5  # each sweep keeps its transaction (and the rows it claimed) this long


def conversations(prefix: str, count: int, idle_for: timedelta) -> list[str]:
    since = timezone.now() - idle_for
    rows = [
        Conversation(
            id=f"{prefix}-{n}",
            state="active" if n % 2 else "pending",
            first_event_at=since,
            last_activity_at=since,
            ttl_seconds=TTL,
        )
        for n in range(count)
    ]
    Conversation.objects.bulk_create(rows)
    return [row.id for row in rows]


def overlapping(sweeps: list[dict]) -> bool:
    """A sweep statement began while another worker process's sweep transaction was open."""
    spans: dict[int, list[list[float]]] = {}
    for record in sweeps:
        if record["event"] == "begin":
            spans.setdefault(record["pid"], []).append([record["at"], float("inf")])
        elif record["event"] == "end":
            spans[record["pid"]][-1][1] = record["at"] + HOLD_SECONDS  # committed after the hold
    flat = [(pid, begin, end) for pid, pairs in spans.items() for begin, end in pairs]
    return any(
        pid_a != pid_b and begin_a <= begin_b < end_a for pid_a, begin_a, end_a in flat for pid_b, begin_b, _ in flat
    )


def test_two_beats_expire_each_conversation_once(transactional_db, redis_server, tmp_path):
    install_detectors_task()
    schedule_every_second("conversations.tasks.expire_stale_sessions")
    first_wave = conversations("c-beat-a", 200, timedelta(seconds=TTL + 600))
    # Idle for TTL - 4 s now: they cross the TTL while both beats are sending.
    second_wave = conversations("c-beat-b", 200, timedelta(seconds=TTL - 4))
    # Active all along: the TTL group stays in use, so every later sweep still runs its statement.
    live = conversations("c-beat-live", 3, timedelta(0))
    sweep_log = tmp_path / "sweep.jsonl"
    env = console_env(
        database_url_for_children(),
        redis_server.url,
        CONSOLE_TEST_SWEEP_LOG=str(sweep_log),
        CONSOLE_TEST_SWEEP_HOLD=str(HOLD_SECONDS),
    )
    services = CeleryServices(env, tmp_path)
    try:
        with celery_broker(redis_server.url):
            services.worker(concurrency=2, include=("tests.reliability.sweep_probe",))
            beats = [services.beat(), services.beat()]
            wanted = first_wave + second_wave

            def all_expired() -> bool:
                return Conversation.objects.filter(pk__in=wanted, state="expired").count() == len(wanted)

            wait_until(all_expired, 40, "both waves to be expired")
            # Both schedulers sent the sweep, and sweeps ran side by side (so they could have doubled).
            for beat in beats:
                beat.wait_for("Sending due task conversations.tasks.expire_stale_sessions", timeout=5)
            wait_until(lambda: overlapping(read_json_lines(sweep_log)), 20, "two sweeps to overlap")
            # A few more sweeps from both beats after everything expired change nothing.
            done = len(read_json_lines(sweep_log))
            wait_until(lambda: len(read_json_lines(sweep_log)) >= done + 8, 20, "four more sweeps")
            assert not Conversation.objects.filter(pk__in=live, state="expired").exists()
    finally:
        services.stop_all()

    facts = expiry_facts(wanted)
    assert facts["audits"] == dict.fromkeys(wanted, 1)
    assert facts["events"] == dict.fromkeys(wanted, 1)
    expired_rows = sum(record["rows"] for record in read_json_lines(sweep_log) if record["event"] == "end")
    assert expired_rows == len(wanted)  # the sweeps' claims add up to each conversation once
