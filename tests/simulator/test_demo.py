"""``make demo``'s command: console and simulator start together, traffic flows, Ctrl-C stops both cleanly."""

from __future__ import annotations

import base64
import json
import os
import queue
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def demo_environment(tmp_path):
    """A fresh checkout's embedded default: SQLite under a var/ of its own, secrets as make demo makes them."""
    if settings.DATABASE_IS_POSTGRES:
        pytest.skip("the demo always runs on its own SQLite database: it is tested in the SQLite pass")
    env_file = tmp_path / "console.env"
    env_file.write_text(
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"CONSOLE_WEBHOOK_SECRETS=whsec_{base64.b64encode(secrets.token_bytes(32)).decode()}\n"
        f"GENESYS_WEBHOOK_SECRET={secrets.token_urlsafe(32)}\n"
        f"CXONE_WEBHOOK_TOKEN={secrets.token_urlsafe(32)}\n"
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE") and not key.startswith("PYTEST")
    }
    environment.update(CONSOLE_VAR_DIR=str(tmp_path), CONSOLE_ENV_FILE=str(env_file), PYTHONUNBUFFERED="1")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=environment,
        check=True,
        timeout=120,
    )
    return environment


def read_lines(process: subprocess.Popen, lines: queue.Queue) -> None:
    for line in process.stdout:
        lines.put(line.rstrip("\n"))


@pytest.mark.slow
def test_the_demo_serves_the_console_feeds_it_and_stops_on_ctrl_c(demo_environment, tmp_path):
    # The demo runs the embedded default (its own SQLite database) whatever the suite's database.
    port, platform_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port), "--platform-port", str(platform_port)]
        + ["--seed", "5", "--rate", "2"],
        cwd=ROOT,
        env=demo_environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(process, lines), daemon=True).start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops everything." not in output:
            assert time.monotonic() < deadline, "\n".join(output)
            try:
                output.append(lines.get(timeout=1))
            except queue.Empty:
                assert process.poll() is None, "\n".join(output)
        text = "\n".join(output)
        assert f"Conversation State Console demo: http://127.0.0.1:{port}/" in text
        assert "supervisor password:" in text and "admin" in text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{platform_port}/healthz").json() == {"status": "ok"}

        database = tmp_path / "console.sqlite3"
        received = 0
        deadline = time.monotonic() + 30
        while received < 10 and time.monotonic() < deadline:
            time.sleep(0.5)
            with sqlite3.connect(database) as connection:
                received = connection.execute(
                    "SELECT COUNT(*) FROM conversations_webhookreceipt WHERE outcome = 'applied'"
                ).fetchone()[0]
        assert received >= 10, "the simulator's webhooks did not reach the console"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            exit_code = process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    while not lines.empty():
        output.append(lines.get())
    assert exit_code == 0, "\n".join(output[-30:])
    assert refused(port) and refused(platform_port)
    summary = json.loads((tmp_path / "simulator-summary.json").read_text())
    assert summary["seed"] == 5 and summary["healthy"]
    assert any(line.startswith("Simulation finished (interrupted)") for line in output)
