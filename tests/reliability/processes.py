"""Real services for reliability tests: a private redis-server, celery worker and beat processes, a fake platform.

Every process binds 127.0.0.1, uses a private port, is started in its own session (so the whole
process group can be SIGKILLed) and is stopped at the end with bounded waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis

from tests.console.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    result = condition()
    if not result:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    return result


class RedisServer:
    """A private, non-persistent redis-server that a test may stop and start again on the same port."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        try:
            # No retries: redis-py 8 retries a refused connection with backoff for ~4 s by default.
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5, retry=None).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self.ping, 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not self.ping(), 10, "redis-server to stop")


class CeleryProcess:
    """``celery -A console worker|beat`` with a log file; stop() ends it, kill() SIGKILLs its process group."""

    def __init__(self, kind: str, env: dict, log_path: Path, extra: list[str]):
        self.kind, self.log_path = kind, log_path
        self.log = open(log_path, "a")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console", kind, "--loglevel", "INFO", *extra],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        def seen():
            if self.process.poll() is not None:
                raise AssertionError(
                    f"celery {self.kind} exited with {self.process.returncode}:\n{self.output()[-3000:]}"
                )
            return text in self.output()

        wait_until(seen, timeout, f"{text!r} in the celery {self.kind} log")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM to the main process: running tasks finish), SIGKILL after 15 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # any pool child left behind
        self.log.close()


class FakePlatform:
    """The native (simulator-shaped) platform API, served from a thread, with switchable behaviour.

    ``close_mode``: "fail" answers 503; "hang" closes the conversation, then holds the response until
    ``release`` is set (the test kills the worker meanwhile); "ok" closes and answers 200.
    """

    def __init__(self):
        self.states: dict[str, str] = {}
        self.close_calls: list[str] = []
        self.get_calls: list[str] = []
        self.close_mode = "ok"
        self.close_arrived = threading.Event()
        self.release = threading.Event()
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                conversation_id = self.path.rsplit("/", 1)[-1]
                platform.get_calls.append(conversation_id)
                if conversation_id not in platform.states:
                    return self._answer(404, {"detail": "not found"})
                return self._answer(200, {"id": conversation_id, "state": platform.states[conversation_id]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                conversation_id = self.path.rstrip("/").split("/")[-2]
                platform.close_calls.append(conversation_id)
                if platform.close_mode == "fail":
                    return self._answer(503, {"detail": "platform maintenance"})
                platform.states[conversation_id] = "closed"
                if platform.close_mode == "hang":
                    platform.close_arrived.set()
                    platform.release.wait(60)
                    return None
                return self._answer(200, {"id": conversation_id, "state": "closed"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/platform"

    def shutdown(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def database_url_for_children() -> str:
    """DATABASE_URL of the database this test process uses (the test database), for child processes."""
    from django.db import connection

    db = connection.settings_dict
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class ConsoleServer:
    """``uvicorn console.asgi:application`` in its own session on a free port, serving the test database.

    ``env`` is the child's whole environment (DJANGO_SETTINGS_MODULE, DATABASE_URL, REDIS_URL...);
    ``workers`` > 1 runs that many server processes behind one socket (uvicorn's supervisor), so
    requests are handled concurrently by separate processes and database connections.
    """

    def __init__(self, env: dict, log_path: Path, *, workers: int = 1):
        self.port = free_port()
        self.log_path = log_path
        self.log = open(log_path, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "console.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--no-access-log",
                "--lifespan",
                "off",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = 60) -> None:
        """Every worker answers /healthz (each needs its own Django start-up)."""
        import httpx

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"uvicorn exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            if self.output().count("Started server process") < self.workers:
                return False
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout, f"uvicorn on port {self.port}", interval=0.2)

    def stop(self) -> None:
        """SIGTERM (graceful: requests in flight finish), SIGKILL of the whole group after 15 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # a worker left behind by the supervisor
        self.log.close()
