"""Run simulator scenarios without a wall clock, and a recording HTTP server to receive what it sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.conf import settings

from simulator.delivery import DeliveryStats
from simulator.formats import Delivery, Secrets
from simulator.plan import ScenarioSpec
from simulator.platform import Platform
from simulator.runner import ScenarioRun
from simulator.scenarios import HEALTHY, VARIANTS

SECRETS = Secrets(
    native=settings.CONSOLE_WEBHOOK_SECRETS[0],
    genesys=settings.GENESYS_WEBHOOK_SECRET,
    cxone=settings.CXONE_WEBHOOK_TOKEN,
)


@dataclass
class _Config:
    secrets: Secrets = SECRETS
    speed: float = 1e9  # the whole story lies in the past, ending now


class _Sink:
    def __init__(self):
        self.items: list = []

    def submit(self, *args):
        self.items.append(args if len(args) > 1 else args[0])


@dataclass
class Recorded:
    platform: Platform
    deliveries: list[Delivery] = field(default_factory=list)
    beacons: list[tuple[str, dict]] = field(default_factory=list)  # (origin, beacon)
    faults: list[tuple[str, str]] = field(default_factory=list)  # (kind, conversation id)
    healthy: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class RecordingSimulation:
    """Stands in for runner.Simulation: records deliveries and beacons instead of sending them."""

    def __init__(self, platform: Platform | None = None):
        self.config = _Config()
        self.platform = platform or Platform()
        self.webhooks = _Sink()
        self.telemetry = _Sink()
        self.stats = DeliveryStats()
        self.recorded = Recorded(self.platform)

    def started(self, spec, plan):
        if spec.kind is None:
            self.recorded.healthy.append(plan.id)

    def injected(self, spec, kind, plan):
        self.recorded.faults.append((kind, plan.id))

    def count(self, name, amount=1):
        pass

    def note_problem(self, text):
        self.recorded.problems.append(text)

    def run(self, spec: ScenarioSpec, *, seed: int = 1) -> Recorded:
        script = spec.script(seed, session_ttl=settings.CONSOLE_SESSION_TTL_SECONDS, ghost_grace=300)
        run = ScenarioRun(self, spec, script, wall_start=0.0)
        while run.next_due() is not None:
            run.run_next()
        self.recorded.deliveries = [d for batch in self.webhooks.items for d in batch if not d.lost]
        self.recorded.beacons = [(origin, beacon) for origin, batch in self.telemetry.items for beacon in batch]
        return self.recorded


def run_variant(kind_or_name: str, *, source: str | None = None, seed: int = 1, index: int = 0) -> Recorded:
    """Run one scenario (a variant name such as "afterid-gap", a fault kind, or "healthy")."""
    if kind_or_name == "healthy":
        variant = HEALTHY
    else:
        variant = next(
            v for v in VARIANTS if kind_or_name in (v.name, v.kind) and (source is None or source in v.sources)
        )
    source = source or variant.sources[0]
    return RecordingSimulation().run(ScenarioSpec(index=index, variant=variant, source=source, start=0), seed=seed)


def post_delivery(client, delivery: Delivery):
    headers = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in delivery.headers_for(int(time.time())).items()
    }
    headers.pop("HTTP_CONTENT_TYPE", None)
    return client.post(delivery.path, data=delivery.body, content_type="application/json", **headers)


def post_all(client, deliveries: list[Delivery]) -> list[dict]:
    answers = []
    for delivery in deliveries:
        response = post_delivery(client, delivery)
        assert response.status_code == 200, (delivery.label, response.status_code, response.content[:300])
        answers.append(response.json())
    return answers


# --- a recording HTTP server ------------------------------------------------------------------------------


@dataclass
class CapturedRequest:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class CaptureServer:
    """Answers like the console (200 for webhooks, 202 for telemetry) unless ``respond`` says otherwise."""

    def __init__(self, respond: Callable[[CapturedRequest, int], tuple[int, dict, dict] | None] | None = None):
        self.requests: list[CapturedRequest] = []
        self.respond = respond
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                captured = CapturedRequest("POST", self.path, dict(self.headers), self.rfile.read(length))
                with owner._lock:
                    owner.requests.append(captured)
                    count = len(owner.requests)
                answer = owner.respond(captured, count) if owner.respond else None
                status, body, headers = answer or owner.default_answer(captured)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @staticmethod
    def default_answer(request: CapturedRequest):
        if request.path.startswith("/telemetry"):
            return 202, {"accepted": len(request.json()["beacons"]), "duplicates": 0, "errors": []}, {}
        return 200, {"status": "applied", "eventId": "x"}, {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def webhooks(self) -> list[CapturedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/webhooks/")]

    def telemetry(self) -> list[CapturedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/telemetry")]
