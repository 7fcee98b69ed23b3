"""What every benchmark shares: databases, the console's environment, servers, statistics, results.

All load goes to 127.0.0.1; every server is started on a free port and stopped by its own
process group; every database is named ``console_bench*`` and dropped when done.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "console_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
# Fixed bench secrets: the servers and the load generator must agree, nothing else uses them.
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"bench-webhook-secret-0123456789abcdef").decode()
SECRET_KEY = "bench-secret-key-" + "x" * 50


def db_url(name: str) -> str:
    return f"{PG_BASE}/{name}"


def db_name(suffix: str = "") -> str:
    return f"{DB_PREFIX}_{suffix}" if suffix else DB_PREFIX


def console_env(database: str, *, redis: bool = True, **extra: str) -> dict[str, str]:
    """The console's production environment (DEBUG off, PostgreSQL, Redis) for a bench database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "CELERY_", "CONSOLE_", "DJANGO_"))
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=db_url(database),
        CONSOLE_WEBHOOK_SECRETS=WEBHOOK_SECRET,
        CONSOLE_ENV_FILE=str(ROOT / "bench" / "no-such-env-file"),
        CONSOLE_VAR_DIR=str(RESULTS / "var"),
        API_RATE_LIMIT_PER_MINUTE="0",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
    )
    if redis:
        env["REDIS_URL"] = REDIS_URL
    env.update(extra)
    return env


# --- databases ----------------------------------------------------------------------------------


def admin_connection() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def drop_database(name: str) -> None:
    assert name.startswith(DB_PREFIX), name
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(name: str, *, template: str | None = None) -> None:
    assert name.startswith(DB_PREFIX), name
    drop_database(name)
    with admin_connection() as conn:
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')


def migrate(database: str, *, settings: str = "console.settings") -> None:
    env = console_env(database, redis=False, DJANGO_SETTINGS_MODULE=settings)
    run([PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"], env=env)


def collectstatic() -> None:
    """The pages need the hashed static files manifest (production serves them with WhiteNoise)."""
    if not (RESULTS / "var" / "staticfiles" / "staticfiles.json").exists():
        run([PYTHON, "manage.py", "collectstatic", "--no-input", "-v", "0"], env=console_env(db_name(), redis=False))


def run(cmd: list[str], *, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def psql(database: str, sql: str) -> None:
    with psycopg.connect(db_url(database), autocommit=True) as conn:
        conn.execute(sql)


def scalar(database: str, sql: str, params=None):
    with psycopg.connect(db_url(database), autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def flush_redis() -> None:
    """Empty the bench's own Redis database (BENCH_REDIS_URL, db 5 by default) and nothing else."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def cpu_seconds(self) -> float:
        """CPU time of the server's whole process group (master and workers), from /proc."""
        return process_group_cpu(self.process.pid)

    def stop(self) -> None:
        stop_group(self.process)


def start(
    cmd: list[str], *, env: dict, name: str, port: int | None = None, wait_path: str | None = "/healthz"
) -> Server:
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"{name}.log"
    handle = open(log, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port or 0, log)
    if wait_path and port:
        wait_http(port, wait_path, process, log)
    return server


def wait_http(port: int, path: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early ({process.returncode}); see {log}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    stop_group(process)
    raise RuntimeError(f"server on port {port} did not answer {path} within {timeout} s; see {log}")


def gunicorn(app: str, *, env: dict, name: str, workers: int = 2) -> Server:
    port = free_port()
    cmd = [
        str(VENV_BIN / "gunicorn"),
        app,
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ]
    return start(cmd, env=env, name=name, port=port)


def celery_worker(*, env: dict, name: str, concurrency: int = 2) -> Server:
    cmd = [
        str(VENV_BIN / "celery"),
        "-A",
        "console",
        "worker",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    server = start(cmd, env=env, name=name, wait_path=None)
    time.sleep(3)  # the worker is ready when it consumes; the first tasks simply wait in Redis until then
    if server.process.poll() is not None:
        raise RuntimeError(f"celery worker exited; see {server.log}")
    return server


def stop_group(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def process_group_cpu(pgid: int) -> float:
    """User + system CPU seconds of every live process in the group (children that exited are not counted)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def postgres_cpu() -> float:
    """CPU seconds of every postgres process (the server is shared; use differences over a short window)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        if name.startswith("postgres"):
            fields = raw.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


# --- statistics and results ---------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> float:
    return os.getloadavg()[0]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Result:
    """One benchmark's headline: its figure, the baseline figure measured in the same run, the ratio."""

    name: str
    figure: str  # what is measured, e.g. "req/s at saturation"
    value: float
    baseline: str  # what the baseline is
    baseline_value: float
    ratio: float
    target: str
    passed: bool
    unit: str = ""
    checks: dict = field(default_factory=dict)  # name -> {"value", "target", "passed"}
    details: dict = field(default_factory=dict)
    load_before: float = 0.0
    load_after: float = 0.0
    seconds: float = 0.0

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2, default=str) + "\n")
        return path


def check(value, target: str, passed: bool) -> dict:
    return {"value": value, "target": target, "passed": bool(passed)}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def timed():
    box = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def cpu_count() -> int:
    return os.cpu_count() or 1
