"""Benchmarks that drive the console in-process: Django's test client through the full middleware,
URL, auth and DRF stack (no socket), with every SQL statement counted.

Import ``setup(database)`` first thing in a benchmark process: it configures Django for that
database in the production environment (DEBUG off, PostgreSQL).
"""

from __future__ import annotations

import base64
import json
import os
import time

from bench import common


def setup(database: str, *, redis: bool = False) -> None:
    os.environ.update(common.console_env(database, redis=redis, DJANGO_SETTINGS_MODULE="console.settings"))
    import django

    django.setup()


def client():
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1")


def bearer_token(name: str = "bench", scopes=("read",)) -> str:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "create_api_client",
        name,
        *[arg for scope in scopes for arg in ("--scope", scope)],
        stdout=out,
        stderr=StringIO(),
    )
    credentials = json.loads(out.getvalue())
    basic = base64.b64encode(f"{credentials['client_id']}:{credentials['client_secret']}".encode()).decode()
    answer = client().post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert answer.status_code == 200, answer.content
    return answer.json()["access_token"]


def supervisor_client(username: str = "bench-supervisor"):
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    call_command("ensure_roles", verbosity=0)
    user, _ = User.objects.get_or_create(username=username)
    user.groups.add(Group.objects.get(name="supervisors"))
    browser = client()
    browser.force_login(user)
    return browser


class Counted:
    """Times one request and counts the SQL statements it ran."""

    def __init__(self):
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        return execute(sql, params, many, context)


def measure(send, *, repeat: int, warmup: int = 5) -> dict:
    """Call ``send()`` (one request) ``repeat`` times: latency percentiles (ms) and statements per request."""
    return measure_interleaved({"only": send}, repeat=repeat, warmup=warmup)["only"]


def measure_interleaved(senders: dict, *, repeat: int, warmup: int = 5) -> dict[str, dict]:
    """Like ``measure`` for several requests, taking turns, so that a noisy moment of the shared
    machine hits the figure and its baseline alike."""
    from django.db import connection

    for send in senders.values():
        for _ in range(warmup):
            response = send()
            assert response.status_code == 200, (response.status_code, response.content[:500])
    latencies = {name: [] for name in senders}
    queries = {name: set() for name in senders}
    for _ in range(repeat):
        for name, send in senders.items():
            counter = Counted()
            with connection.execute_wrapper(counter):
                started = time.perf_counter()
                response = send()
                latencies[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (response.status_code, response.content[:500])
            queries[name].add(counter.queries)
    return {
        name: {
            "p50_ms": round(common.percentile(latencies[name], 50), 3),
            "p99_ms": round(common.percentile(latencies[name], 99), 3),
            "max_ms": round(max(latencies[name]), 3),
            "requests": repeat,
            "queries": sorted(queries[name]),
        }
        for name in senders
    }
