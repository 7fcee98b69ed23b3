"""A real ASGI server (uvicorn, in a subprocess) and Debian's chromium driven by Playwright.

The server uses the test database (its rows are committed: browser tests are
transactional) and, when REDIS_URL is set, the Redis channel layer. Screenshots go to
test-output/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection, connections

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-output" / "screenshots"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LIVE_REDIS_URL = os.environ.get("TEST_LIVE_REDIS_URL", "redis://127.0.0.1:6379/7")


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _server_env() -> dict:
    """The production shape on PostgreSQL (Redis channel layer and broker), the embedded default on SQLite."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    if settings.DATABASE_IS_POSTGRES:
        require_service("redis", _redis_answers(LIVE_REDIS_URL), f"{LIVE_REDIS_URL} does not answer")
        import redis

        redis.Redis.from_url(LIVE_REDIS_URL).flushdb()  # a private db number: jobs nobody consumes pile up
        env["REDIS_URL"] = LIVE_REDIS_URL
    database = settings.DATABASES["default"]
    if settings.DATABASE_IS_POSTGRES:
        user = database["USER"] or "postgres"
        password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
        host = database["HOST"] or "127.0.0.1"
        env["DATABASE_URL"] = (
            f"postgres://{user}{password}@{host}:{database['PORT'] or 5432}/{connection.settings_dict['NAME']}"
        )
    return env


@pytest.fixture
def live_asgi(transactional_db):
    """Base URL of a uvicorn process serving console.asgi on the test database."""
    port = _free_port()
    log_path = ROOT / "test-output" / f"uvicorn-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "console.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--lifespan",
                "off",
            ],
            cwd=ROOT,
            env=_server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("uvicorn did not answer /healthz within 30 s")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        _wait_for_server_connections_to_close()


def _wait_for_server_connections_to_close(timeout: float = 10) -> None:
    """PostgreSQL drops a dead client's backend asynchronously; the test database can only be
    dropped at the end of the session once the server's connections are gone."""
    if not settings.DATABASE_IS_POSTGRES:
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def page():
    """A fresh chromium page; Playwright runs only for the duration of one test.

    Playwright's sync API keeps an event loop running in this thread, so it must not
    outlive the test (later tests use async_to_sync), and Django's async-safety guard is
    lifted only meanwhile (the fixtures' ORM calls are plain synchronous calls).
    """
    require_service(
        "browser",
        os.path.exists(CHROMIUM) or bool(shutil.which("chromium")),
        f"{CHROMIUM} is missing (make test installs Debian's chromium)",
    )
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            yield page
            # Playwright runs the test in a greenlet, and Django keeps connections per context:
            # fixtures that used the ORM meanwhile opened connections only this context can close.
            connections.close_all()
            context.close()
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    backend = "postgres" if settings.DATABASE_IS_POSTGRES else "sqlite"
    path = SCREENSHOTS / f"{name}-{backend}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
