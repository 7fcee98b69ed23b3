"""Which scenarios run, in which order, and when: a pure function of the seed and the options.

First every variant of every requested fault kind runs once (two faults, then a healthy
conversation, at least four scenarios every three seconds of story time, so every kind shows within
the first minute of a demo); after that each scenario carries a fault with probability
``fault_ratio``. The conversation ids come from each scenario's own seeded generator, so
the same seed and options give the same injection summary.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from simulator.scenarios import FAULT_KINDS, HEALTHY, VARIANTS, Variant, variants_for
from simulator.script import Script


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class ScenarioSpec:
    index: int
    variant: Variant
    source: str
    start: float  # story seconds after the run starts

    @property
    def kind(self) -> str | None:
        return self.variant.kind or None

    def script(self, seed: int, *, session_ttl: float, ghost_grace: float) -> Script:
        script = Script(
            seed=seed,
            index=self.index,
            source=self.source,
            kind=self.kind,
            variant=self.variant.name,
            session_ttl=session_ttl,
            ghost_grace=ghost_grace,
        )
        self.variant.build(script)
        return script


def parse_faults(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma-separated list of finding kinds."""
    text = (text or "").strip()
    if text in ("", "none"):
        return ()
    if text == "all":
        return FAULT_KINDS
    kinds = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown:
        raise PlanError(f"unknown fault kind {', '.join(unknown)}; use all, none or some of: {', '.join(FAULT_KINDS)}")
    return kinds


def parse_sources(text: str) -> tuple[str, ...]:
    sources = tuple(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))
    unknown = [source for source in sources if source not in HEALTHY.sources]
    if unknown or not sources:
        raise PlanError(f"sources must be some of {', '.join(HEALTHY.sources)}; got {text!r}")
    return sources


def build_plan(
    seed: int,
    *,
    kinds: tuple[str, ...],
    sources: tuple[str, ...] = HEALTHY.sources,
    fault_ratio: float = 0.3,
    rate: float = 0.5,
    limit: int = 0,
) -> Iterator[ScenarioSpec]:
    """Scenario specs in start order; ``limit`` 0 means no end."""
    if rate <= 0:
        raise PlanError("rate must be positive")
    if not 0 <= fault_ratio <= 1:
        raise PlanError("fault ratio must be between 0 and 1")
    for kind in kinds:
        if not variants_for(kind, sources):
            needed = sorted({s for v in VARIANTS if v.kind == kind for s in v.sources})
            raise PlanError(f"{kind} needs one of the sources {', '.join(needed)}")
    rng = random.Random(f"plan:{seed}")
    first_pass = [variant for kind in kinds for variant in variants_for(kind, sources)]
    rng.shuffle(first_pass)
    index, at = 0, 0.0
    while not limit or index < limit:
        if first_pass:
            # Two faults, then a healthy conversation, until every variant has run once.
            variant = HEALTHY if index % 3 == 2 else first_pass.pop(0)
            interval = min(1 / rate, 0.75)
        else:
            if kinds and rng.random() < fault_ratio:
                variant = rng.choice(variants_for(rng.choice(kinds), sources))
            else:
                variant = HEALTHY
            interval = 1 / rate
        source = rng.choice([s for s in sources if s in variant.sources])
        yield ScenarioSpec(index=index, variant=variant, source=source, start=at)
        index += 1
        at += interval
