"""``manage.py simulate``: a fake platform and widget fleet feeding a running console over HTTP."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from simulator.delivery import Perturbation
from simulator.formats import Secrets
from simulator.plan import PlanError, build_plan, parse_faults, parse_sources
from simulator.platform_api import Credentials
from simulator.runner import Simulation, SimulationConfig, SimulationError
from simulator.scenarios import FAULT_KINDS
from simulator.script import ORIGINS

DEFAULT_DEPLOYMENT_NAME = "Simulated widgets"
DEFAULT_GHOST_GRACE_SECONDS = 300


def _setting(name: str, default: str = "") -> str:
    """A platform-client setting the console reads (settings first, then the environment)."""
    value = getattr(settings, name, None)
    return str(value) if value else os.environ.get(name, default)


def simulator_deployment(name: str = DEFAULT_DEPLOYMENT_NAME):
    """Create (or reuse) the widget deployment the simulated widgets report to; allow all their origins.

    Setup only: the simulator's traffic itself goes over HTTP.
    """
    from diagnostics.models import WidgetDeployment

    deployment = WidgetDeployment.objects.filter(name=name).order_by("pk").first()
    if deployment is None:
        return WidgetDeployment.objects.create(name=name, allowed_origins=list(ORIGINS))
    missing = [origin for origin in ORIGINS if origin not in deployment.allowed_origins]
    if missing:
        deployment.allowed_origins = [*deployment.allowed_origins, *missing]
        deployment.save(update_fields=["allowed_origins"])
    return deployment


class Command(BaseCommand):
    help = (
        "Run the simulated contact-center platform and widget fleet against a console: signed webhooks in the "
        "native, Genesys and CXone formats (with retries, duplicates and out-of-order deliveries), widget "
        "telemetry from several origins, the platform API for force-close and reconciliation, and the failure "
        "modes of the guide on demand. Writes an injection summary to compare with the findings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--target", default="http://127.0.0.1:8000", help="Console base URL (default %(default)s)")
        parser.add_argument(
            "--conversations", type=int, default=40, help="Scenarios to run, 0 for no limit (default %(default)s)"
        )
        parser.add_argument(
            "--rate", type=float, default=0.5, help="New conversations per second of story time (default %(default)s)"
        )
        parser.add_argument(
            "--duration", type=float, default=0, help="Stop after this many seconds, 0 for no limit (default)"
        )
        parser.add_argument(
            "--faults",
            default="all",
            help=f"Fault kinds to inject: all, none, or a comma-separated list of: {', '.join(FAULT_KINDS)}",
        )
        parser.add_argument(
            "--fault-ratio",
            type=float,
            default=0.3,
            help="Once every kind ran, the share of conversations with a fault (default %(default)s)",
        )
        parser.add_argument("--seed", type=int, help="Seed; the same seed gives the same injection summary")
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="Story seconds per wall-clock second (default 1: real time; tests use hundreds)",
        )
        parser.add_argument("--sources", default="native,genesys,cxone", help="Platforms to simulate")
        parser.add_argument(
            "--summary",
            type=Path,
            default=Path(settings.VAR_DIR) / "simulator-summary.json",
            help="Where to write the injection summary JSON (default %(default)s)",
        )
        parser.add_argument(
            "--platform-port",
            type=int,
            default=8765,
            help="Port of the simulated platform API on 127.0.0.1, 0 for any free port (default %(default)s)",
        )
        parser.add_argument("--deployment-key", help="X-Deployment-Key for telemetry (default: the simulator's own)")
        parser.add_argument("--telemetry-url", help="Telemetry endpoint (default <target>/telemetry/)")
        parser.add_argument("--duplicate-rate", type=float, default=0.04, help="Share of webhooks sent twice")
        parser.add_argument(
            "--retry-rate", type=float, default=0.04, help="Share of webhooks retried as if the answer was lost"
        )
        parser.add_argument(
            "--reorder-rate", type=float, default=0.08, help="Share of webhooks overtaken by the next one"
        )
        parser.add_argument("--progress-interval", type=float, default=5.0, help="Seconds between progress lines")

    def handle(self, *args, **options):
        # One line per request from httpx would drown the progress lines.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        try:
            kinds = parse_faults(options["faults"])
            sources = parse_sources(options["sources"])
        except PlanError as error:
            raise CommandError(str(error)) from None
        for name in ("conversations", "duration"):
            if options[name] < 0:
                raise CommandError(f"--{name} must be 0 (no limit) or more")
        if options["speed"] <= 0:
            raise CommandError("--speed must be positive")
        for name in ("duplicate_rate", "retry_rate", "reorder_rate", "fault_ratio"):
            if not 0 <= options[name] <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        seed = options["seed"] if options["seed"] is not None else random.SystemRandom().randrange(1, 10**6)
        try:
            next(build_plan(seed, kinds=kinds, sources=sources, rate=options["rate"], limit=1))
        except PlanError as error:
            raise CommandError(str(error)) from None
        config = SimulationConfig(
            target=options["target"].rstrip("/"),
            secrets=self._secrets(sources),
            deployment_key=options["deployment_key"] or "",
            seed=seed,
            conversations=options["conversations"],
            rate=options["rate"],
            duration=options["duration"],
            faults=kinds,
            fault_ratio=options["fault_ratio"],
            sources=sources,
            speed=options["speed"],
            telemetry_url=options["telemetry_url"] or "",
            platform_port=options["platform_port"],
            credentials=Credentials(
                native_token=_setting("NATIVE_PLATFORM_TOKEN"),
                genesys_client_id=_setting("GENESYS_CLIENT_ID", Credentials.genesys_client_id),
                genesys_client_secret=_setting("GENESYS_CLIENT_SECRET", Credentials.genesys_client_secret),
                cxone_client_id=_setting("CXONE_CLIENT_ID", Credentials.cxone_client_id),
                cxone_client_secret=_setting("CXONE_CLIENT_SECRET", Credentials.cxone_client_secret),
            ),
            perturbation=Perturbation(
                duplicate_rate=options["duplicate_rate"],
                lost_ack_rate=options["retry_rate"],
                reorder_rate=options["reorder_rate"],
            ),
            session_ttl=settings.CONSOLE_SESSION_TTL_SECONDS,
            ghost_grace=int(getattr(settings, "CONSOLE_GHOST_GRACE_SECONDS", DEFAULT_GHOST_GRACE_SECONDS)),
            progress_interval=options["progress_interval"],
            summary_path=options["summary"],
        )
        self._deployment(config)
        simulation = Simulation(config, out=self._say)
        try:
            simulation.start_services()
        except OSError as error:
            raise CommandError(f"cannot serve the platform API on 127.0.0.1:{config.platform_port}: {error}") from None
        self._announce(config, simulation, options)
        # Ctrl-C or SIGTERM finish the run cleanly (summary written); a second one stops at once.
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if in_main_thread else {}

        def stop(signum, frame):
            simulation.stop("interrupted" if signum == signal.SIGINT else "terminated")
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        for sig in previous:
            signal.signal(sig, stop)
        try:
            simulation.run()
        except SimulationError as error:
            raise CommandError(str(error)) from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            simulation.close()

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _secrets(self, sources) -> Secrets:
        values = {
            "native": (settings.CONSOLE_WEBHOOK_SECRETS[0] if settings.CONSOLE_WEBHOOK_SECRETS else ""),
            "genesys": settings.GENESYS_WEBHOOK_SECRET,
            "cxone": settings.CXONE_WEBHOOK_TOKEN,
        }
        names = {
            "native": "CONSOLE_WEBHOOK_SECRETS",
            "genesys": "GENESYS_WEBHOOK_SECRET",
            "cxone": "CXONE_WEBHOOK_TOKEN",
        }
        missing = [names[source] for source in sources if not values[source]]
        if missing:
            raise CommandError(
                f"{', '.join(missing)} not set: the simulator signs with the console's own secrets "
                "(make demo generates them in var/console.env)"
            )
        return Secrets(**values)

    def _deployment(self, config: SimulationConfig) -> None:
        from diagnostics.models import WidgetDeployment

        if config.deployment_key:
            deployment = WidgetDeployment.objects.filter(key=config.deployment_key).first()
        else:
            deployment = simulator_deployment()
            config.deployment_key = deployment.key
        if deployment is not None:
            # The time-based faults must exceed this deployment's thresholds, not only the defaults.
            config.session_ttl = max(config.session_ttl, deployment.session_ttl_seconds or 0)
            config.ghost_grace = max(config.ghost_grace, deployment.ghost_grace_seconds or 0)

    def _announce(self, config: SimulationConfig, simulation: Simulation, options) -> None:
        limit = f"{config.conversations} conversations" if config.conversations else "conversations without end"
        if config.duration:
            limit += f" for at most {config.duration:g} s"
        kinds = "all" if config.faults == FAULT_KINDS else (", ".join(config.faults) or "none")
        self._say(
            f"Simulating {limit} at {config.rate:g}/s (speed {config.speed:g}x) against {config.target}; "
            f"seed {config.seed}; faults: {kinds}; sources: {', '.join(config.sources)}"
        )
        environment = " ".join(
            f"{key}={value}"
            for key, value in simulation.api.environment().items()
            if "SECRET" not in key and "TOKEN" not in key
        )
        self._say(f"Platform API at {simulation.api.url} (console settings: {environment})")
        self._say(f"Telemetry to {config.telemetry_endpoint} with deployment key {config.deployment_key}")
