"""Every fault scenario carries exactly the facts of its finding; healthy conversations carry none.

The scenarios run without a wall clock, their webhooks are applied by the console's own
webhook view, and tests/simulator/definitions.py reads the result with the contract's words.
"""

from __future__ import annotations

import random

import pytest
from django.conf import settings
from django.utils import timezone

from simulator.plan import ScenarioSpec
from simulator.scenarios import HEALTHY, SOURCES, VARIANTS
from tests.simulator import definitions
from tests.simulator.harness import RecordingSimulation, post_all

pytestmark = pytest.mark.django_db

# A cross-origin reset is also a duplicate conversation (docs/architecture.md, "Definitions").
INHERENT = {"cross_origin_reset": {"duplicate_conversation"}}


def found(recorded) -> set[tuple[str, str]]:
    return definitions.findings(
        [beacon for _, beacon in recorded.beacons],
        now=timezone.now(),
        ttl=settings.CONSOLE_SESSION_TTL_SECONDS,
        grace=300,
    )


CASES = [(variant, source) for variant in VARIANTS for source in variant.sources]


@pytest.mark.parametrize(("variant", "source"), CASES, ids=[f"{v.kind}:{v.name}:{s}" for v, s in CASES])
def test_it_injects_the_facts_of_each_fault_and_nothing_else(client, variant, source):
    recorded = RecordingSimulation().run(ScenarioSpec(0, variant, source, 0), seed=11)
    post_all(client, recorded.deliveries)

    assert recorded.faults == [(variant.kind, recorded.faults[0][1])]
    conversation_id = recorded.faults[0][1]
    expected = {(kind, conversation_id) for kind in {variant.kind} | INHERENT.get(variant.kind, set())}
    assert found(recorded) == expected
    assert not recorded.problems


@pytest.mark.parametrize("seed", range(1, 25))
def test_healthy_conversations_satisfy_no_finding_definition(client, seed):
    source = SOURCES[seed % 3]
    recorded = RecordingSimulation().run(ScenarioSpec(seed, HEALTHY, source, 0), seed=seed)
    post_all(client, recorded.deliveries)

    assert recorded.healthy and not recorded.faults
    assert found(recorded) == set()
    assert not recorded.problems


@pytest.mark.parametrize("seed", range(1, 10))
def test_healthy_traffic_stays_healthy_when_delivered_twice_and_out_of_order(client, seed):
    """Redeliveries and a late event from before the close are not findings (ordering rules)."""
    source = SOURCES[seed % 3]
    recorded = RecordingSimulation().run(ScenarioSpec(seed, HEALTHY, source, 0), seed=seed)
    deliveries = list(recorded.deliveries)
    rng = random.Random(seed)
    for index in range(len(deliveries) - 1):
        if rng.random() < 0.3:
            deliveries[index], deliveries[index + 1] = deliveries[index + 1], deliveries[index]
    deliveries += rng.sample(recorded.deliveries, k=min(4, len(recorded.deliveries)))
    # The close delivered before the events that preceded it:
    deliveries.insert(0, recorded.deliveries[-1])
    answers = post_all(client, deliveries)

    assert {answer["status"] for answer in answers} <= {"applied", "duplicate", "stale", "ignored"}
    assert "duplicate" in {answer["status"] for answer in answers}
    assert found(recorded) == set()


def test_every_fault_kind_has_a_scenario():
    from diagnostics.models import FindingKind

    assert {variant.kind for variant in VARIANTS} == set(FindingKind.values)
