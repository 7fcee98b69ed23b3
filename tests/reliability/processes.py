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


def stop_group(process: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM to a process started in its own session, SIGKILL of its whole group after ``grace``
    seconds, and SIGKILL of the group anyway for children it left behind (pool workers)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


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
        stop_group(self.process)
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

    def __init__(self, env: dict, log_path: Path, *, workers: int = 1, options: tuple[str, ...] = ()):
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
                *options,
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
        stop_group(self.process)
        self.log.close()


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class PostgresCluster:
    """A private PostgreSQL cluster (initdb into a fresh directory, trust auth, 127.0.0.1, its own port).

    Tests may stop it (``-m fast`` or ``-m immediate``, a crash) and start it again without touching the
    machine's shared server. PostgreSQL refuses to run as root: as root the commands run as ``postgres``.
    """

    def __init__(self, bin_dir: Path):
        import pwd
        import tempfile

        self.bin_dir, self.port = bin_dir, free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="console-pg-"))
        self.data, self.log_path = self.directory / "data", self.directory / "postgres.log"
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin_dir / command[0]), *command[1:]],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=50"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log_path), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        import shutil

        if self.running():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def console_env(database_url: str, redis_url: str = "", **extra: str) -> dict:
    """Environment of a console process (server, worker, beat) started by a test: the test settings
    (webhook secrets, SECRET_KEY of this process) on the given database and, when given, Redis."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


class NativeSender:
    """Delivers signed native webhooks over HTTP the way a platform does: a delivery that gets a 5xx or a
    connection error is sent again later (same webhook-id, signed anew), until a 2xx or ``give_up_after``.

    Every attempt is recorded in ``attempts`` as (monotonic time it was answered, base URL, event id, status
    or the exception's class name, content type, body, monotonic time it was sent).
    """

    def __init__(self, secret: str, *, give_up_after: float = 60, timeout: float = 10):
        import httpx

        self.secret, self.give_up_after = secret, give_up_after
        self.http = httpx.Client(timeout=timeout)
        self.attempts: list[tuple] = []
        self.lock = threading.Lock()

    def _attempt(self, base: str, payload: dict):
        import httpx

        from conversations.ingest.native import sign

        body = json.dumps(payload).encode()
        timestamp, sent = int(time.time()), time.monotonic()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": payload["id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, payload["id"], timestamp, body),
        }
        response = None
        try:
            response = self.http.post(f"{base}/webhooks/native/", content=body, headers=headers)
        except httpx.TransportError as error:
            record = (time.monotonic(), base, payload["id"], type(error).__name__, "", "", sent)
        else:
            record = (
                time.monotonic(),
                base,
                payload["id"],
                response.status_code,
                response.headers.get("content-type", ""),
                response.text[:500],
                sent,
            )
        with self.lock:
            self.attempts.append(record)
        return response

    def deliver(self, base: str, payload: dict):
        """Send until a 2xx; answers the final response (a 4xx is final too: a platform does not retry it)."""
        deadline, delay = time.monotonic() + self.give_up_after, 0.1
        while True:
            response = self._attempt(base, payload)
            if response is not None and response.status_code < 500:
                return response
            if time.monotonic() > deadline:
                raise AssertionError(f"delivery {payload['id']} still failing after {self.give_up_after:.0f} s")
            time.sleep(delay)
            delay = min(1.0, delay * 2)

    def close(self) -> None:
        self.http.close()


class CeleryServices:
    """Celery workers and beats a test starts against one database and broker; ``stop_all()`` ends them.

    Workers load ``tests.reliability.worker_probe`` (every finished task is written to ``probe``) and
    whatever else ``include`` names; ``env`` adds variables for one process (a probe's switches).
    """

    def __init__(self, env: dict, directory: Path):
        self.directory, self.probe = directory, directory / "probe.jsonl"
        self.env = {**env, "CONSOLE_TEST_PROBE_FILE": str(self.probe)}
        self.started: list[CeleryProcess] = []

    def worker(self, *, concurrency: int = 1, include: tuple[str, ...] = (), env: dict | None = None):
        number = len(self.started)
        modules = ",".join(("tests.reliability.worker_probe", *include))
        process = CeleryProcess(
            "worker",
            {**self.env, **(env or {})},
            self.directory / f"worker-{number}.log",
            [
                *("-P", "prefork", "-c", str(concurrency), "-n", f"reliability-{number}@%h"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat", "--include", modules),
            ],
        )
        self.started.append(process)
        process.wait_for(" ready.")
        return process

    def beat(self) -> CeleryProcess:
        number = len(self.started)
        process = CeleryProcess(
            "beat",
            self.env,
            self.directory / f"beat-{number}.log",
            ["--pidfile=", "--max-interval", "1"],
        )
        self.started.append(process)
        process.wait_for("beat: Starting")
        return process

    def probed(self) -> list[dict]:
        if not self.probe.exists():
            return []
        return [json.loads(line) for line in self.probe.read_text().splitlines() if line.strip()]

    def stop_all(self) -> None:
        """At the end of a test nothing is left to finish: every process group is SIGKILLed (a warm
        shutdown made each test's teardown last about 10 s)."""
        for celery in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(celery.process.pid, signal.SIGKILL)
            celery.process.wait(timeout=10)
            celery.log.close()


def schedule_every_second(*tasks: str) -> None:
    """Only these periodic tasks, every second (the entries are created if an earlier test flushed them)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from console.celery import PERIODIC_TASKS

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    for task in PERIODIC_TASKS:
        PeriodicTask.objects.update_or_create(
            name=task, defaults={"task": task, "interval": every_second, "enabled": task in tasks}
        )


def read_json_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def expiry_facts(conversation_ids: list[str]) -> dict:
    """What the expiry sweeps left for these conversations: states, audit rows and console events per id."""
    from collections import Counter

    from console.models import AuditEntry
    from conversations.models import Conversation, WebhookReceipt

    audits = Counter(
        AuditEntry.objects.filter(action="conversation.expired", target_id__in=conversation_ids).values_list(
            "target_id", flat=True
        )
    )
    events: Counter = Counter()
    for body in WebhookReceipt.objects.filter(source="console").values_list("body", flat=True):
        document = json.loads(body)
        for item in document.get("events", [document]):
            if item["conversationId"] in conversation_ids and item["data"].get("state") == "expired":
                events[item["conversationId"]] += 1
    states = dict(Conversation.objects.filter(pk__in=conversation_ids).values_list("pk", "state"))
    return {"states": states, "audits": audits, "events": events}
