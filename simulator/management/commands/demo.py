"""``manage.py demo`` (what ``make demo`` runs): the console and the simulator together, Ctrl-C stops both.

It creates the demo users, starts the console as one ASGI process (pages, API, webhooks
and /ws/; with REDIS_URL set also a Celery worker with embedded beat), waits until it
answers, starts ``manage.py simulate`` against it with no end (a steady mix of healthy
conversations and every fault kind, the platform API on ``--platform-port``), points the
console's platform clients at the simulator, and prints where to log in. Each child runs
in its own session so the terminal's Ctrl-C reaches only this command, which then stops
them in order and waits for them.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

STOP_TIMEOUT = 15


class Command(BaseCommand):
    help = "Run the console and the simulated platform together (make demo); Ctrl-C stops everything."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Console address (default %(default)s)")
        parser.add_argument("--port", type=int, default=8000, help="Console port (default %(default)s)")
        parser.add_argument(
            "--platform-port", type=int, default=8765, help="Simulated platform API port (default %(default)s)"
        )
        parser.add_argument("--rate", type=float, default=0.5, help="New conversations per second (default 0.5)")
        parser.add_argument("--seed", type=int, help="Simulator seed (default: random, printed)")
        parser.add_argument("--startup-timeout", type=float, default=60, help="Seconds to wait for each process")

    def handle(self, *args, **options):
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = False
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._run(options)
        finally:
            self._stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum, frame):
        self.stopping = True

    def _run(self, options) -> None:
        host, port, platform_port = options["host"], options["port"], options["platform_port"]
        console_url = f"http://{host}:{port}"
        platform_url = f"http://127.0.0.1:{platform_port}"
        users = io.StringIO()
        call_command("create_demo_users", stdout=users)
        environment = self._environment(platform_url)
        manage = str(Path(settings.BASE_DIR) / "manage.py")

        self._spawn(
            "console",
            [sys.executable, "-m", "uvicorn", "console.asgi:application", "--host", host, "--port", str(port)]
            + ["--no-access-log"],
            environment,
        )
        self._wait_until_up("console", f"{console_url}/healthz", options["startup_timeout"])
        if os.environ.get("REDIS_URL"):
            self._spawn(
                "celery",
                [sys.executable, "-m", "celery", "-A", "console", "worker", "--beat", "--concurrency", "2"]
                + ["--loglevel", "WARNING"],
                environment,
            )
        simulate = [sys.executable, manage, "simulate", "--target", console_url, "--conversations", "0"]
        simulate += ["--duration", "0", "--rate", str(options["rate"]), "--platform-port", str(platform_port)]
        simulate += ["--progress-interval", "10"]
        if options["seed"] is not None:
            simulate += ["--seed", str(options["seed"])]
        self._spawn("simulator", simulate, environment)
        self._wait_until_up("simulator", f"{platform_url}/healthz", options["startup_timeout"])

        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Conversation State Console demo: {console_url}/"))
        self.stdout.write(f"(Django admin with the handoff context history: {console_url}/admin/)")
        self.stdout.write("Log in with one of these demo users:")
        self.stdout.write(users.getvalue().rstrip())
        self.stdout.write(
            f"The simulator feeds it signed webhooks and widget telemetry, serves the platform API at "
            f"{platform_url}, and writes what it injected to {Path(settings.VAR_DIR) / 'simulator-summary.json'}."
        )
        self.stdout.write("Ctrl-C stops everything.")
        self.stdout.flush()
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"the {name} process exited with status {process.returncode}; stopping the demo")
            time.sleep(0.3)
        self.stdout.write("Stopping the demo ...")

    def _environment(self, platform_url: str) -> dict[str, str]:
        """The console's platform clients point at the simulator; both get the same fresh credentials."""
        environment = dict(os.environ)
        environment.update(
            {
                "NATIVE_PLATFORM_URL": f"{platform_url}/platform",
                "NATIVE_PLATFORM_TOKEN": secrets.token_urlsafe(24),
                "GENESYS_API_BASE": f"{platform_url}/genesys",
                "GENESYS_LOGIN_BASE": f"{platform_url}/genesys",
                "GENESYS_CLIENT_ID": "demo-genesys",
                "GENESYS_CLIENT_SECRET": secrets.token_urlsafe(24),
                "CXONE_API_BASE": f"{platform_url}/cxone",
                "CXONE_TOKEN_URL": f"{platform_url}/cxone/auth/token",
                "CXONE_CLIENT_ID": "demo-cxone",
                "CXONE_CLIENT_SECRET": secrets.token_urlsafe(24),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if environment.get("DATABASE_URL") and not environment.get("DATABASE_POOL_SIZE"):
            # The ASGI server serves HTTP here: without a pool each thread holds a PostgreSQL connection.
            environment["DATABASE_POOL_SIZE"] = "4"
        return environment

    def _spawn(self, name: str, command: list[str], environment: dict[str, str]) -> None:
        process = subprocess.Popen(command, env=environment, cwd=settings.BASE_DIR, start_new_session=True)
        self.children.append((name, process))

    def _wait_until_up(self, name: str, url: str, timeout: float) -> None:
        process = dict(self.children)[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stopping:
                raise CommandError(f"interrupted while the {name} was starting")
            if process.poll() is not None:
                raise CommandError(f"the {name} process exited with status {process.returncode} while starting")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise CommandError(f"the {name} did not answer {url} within {timeout:g} s")

    def _stop_children(self) -> None:
        """Simulator first (it writes its summary), then the worker, then the console; kill what hangs."""
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGINT if name != "celery" else signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"the {name} did not stop within {STOP_TIMEOUT} s; killing it")
                    process.kill()
                    process.wait(timeout=5)
        self.children = []
