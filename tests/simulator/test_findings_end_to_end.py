"""The simulator against a live console: every injected fault is found, nothing is found on healthy conversations.

This is the contract between the simulator and the detectors (docs/architecture.md,
"Simulator injection summary"): it compares the injection summary of a seeded run
(every fault kind and variant, healthy conversations in between, duplicates, retries
and out-of-order deliveries) with the findings the console raised over real HTTP
(webhooks, POST /telemetry/). After the traffic, the periodic tasks run once, as the
scheduler would run them; the console's platform clients point at the simulator.

It needs the detectors and the telemetry endpoint (issue 4): without them it fails,
saying what is missing. Its companion below runs the same seeded traffic with the
telemetry captured and checks the facts with tests/simulator/definitions.py, the
contract's definitions read literally, so the simulator's side holds on its own.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from console.celery import app
from diagnostics.models import Finding, FindingKind
from simulator.management.commands.simulate import simulator_deployment
from simulator.runner import Simulation, SimulationConfig
from tests.simulator import definitions
from tests.simulator.harness import SECRETS, CaptureServer

SEED = 2024
# Periodic work the scheduler does, in the order a first cycle would run it.
PERIODIC_TASKS = (
    "diagnostics.tasks.run_detectors",
    "diagnostics.tasks.validate_liveness",
    "conversations.tasks.reconcile_with_platform",
    "diagnostics.tasks.run_detectors",
)


def seeded_run(target: str, telemetry_url: str = "") -> Simulation:
    return Simulation(
        SimulationConfig(
            target=target,
            secrets=SECRETS,
            deployment_key=simulator_deployment().key,
            seed=SEED,
            conversations=36,
            rate=4,
            speed=300,
            platform_port=0,
            progress_interval=60,
            telemetry_url=telemetry_url,
        ),
        out=lambda line: None,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_injected_fault_is_found_and_no_healthy_conversation_has_a_finding(live_server, settings):
    simulation = seeded_run(live_server.url)
    simulation.start_services()
    try:
        for name, value in simulation.api.environment().items():
            setattr(settings, name, value)
        summary = simulation.run()
        counts, _, problems = simulation.stats.snapshot()
        assert counts["beacons_failed"] == 0 and counts["beacons_rejected"] == 0, (
            f"the console did not take the widgets' telemetry (POST /telemetry/): {problems}"
        )
        assert counts["webhooks_refused"] == 0 and counts["webhooks_failed"] == 0, problems
        for name in PERIODIC_TASKS:
            if name in app.tasks:
                app.tasks[name].apply()
    finally:
        simulation.close()

    assert {fault["kind"] for fault in summary["faults"]} == set(FindingKind.values)
    found = {(finding.kind, finding.conversation_id) for finding in Finding.objects.all()}
    missing = [f for f in summary["faults"] if (f["kind"], f["conversationId"]) not in found]
    assert not missing, f"injected but not found: {missing}; found: {sorted(found)}"
    healthy = set(summary["healthy"])
    on_healthy = [
        (f.kind, f.status, f.conversation_id, f.evidence) for f in Finding.objects.filter(conversation_id__in=healthy)
    ]
    assert not on_healthy, f"findings raised on healthy conversations: {on_healthy}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_seeded_run_carries_the_facts_of_every_injected_fault_and_none_on_healthy_conversations(live_server):
    with CaptureServer() as widgets:
        simulation = seeded_run(live_server.url, telemetry_url=f"{widgets.url}/telemetry/")
        try:
            summary = simulation.run()
        finally:
            simulation.close()
        beacons = [beacon for request in widgets.telemetry() for beacon in request.json()["beacons"]]
    counts, outcomes, problems = simulation.stats.snapshot()
    assert counts["webhooks_refused"] == counts["webhooks_failed"] == 0, problems
    assert outcomes["duplicate"] and counts["webhooks_reordered"], "the run must exercise duplicates and reordering"

    facts = definitions.findings(beacons, now=timezone.now(), ttl=900, grace=300)
    injected = {(fault["kind"], fault["conversationId"]) for fault in summary["faults"]}
    assert injected <= facts, f"injected without the facts of its finding: {sorted(injected - facts)}"
    healthy = set(summary["healthy"])
    assert not [fact for fact in facts if fact[1] in healthy]
