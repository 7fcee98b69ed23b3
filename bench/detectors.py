"""6. Detectors: run_detectors over 100,000 conversations with telemetry — conversations/s and peak memory.

Each run is a fresh process (peak RSS is its own): the detectors over everything, streamed in
chunks (``diagnostics.actions.run_everything``, what the periodic task and ``manage.py
run_detectors`` do); the baseline, in the same run on the same rows, is a bare streaming read of
what the detectors load (conversations, participants, beacons, messages, chunk by chunk), with
no detection. Memory must stay flat from 10,000 to 100,000 conversations.
"""

from __future__ import annotations

import argparse
import json
import time

from bench import common, seed
from bench.common import Result, check, say

DB = common.db_name("detectors")
SIZES = (10_000, 100_000)


def child(mode: str) -> dict:
    from bench import inproc

    inproc.setup(DB)
    from diagnostics import actions

    started = time.perf_counter()
    if mode == "detectors":
        stats = actions.run_everything()
        subjects = stats["subjects"]
    else:
        subjects = bare_read()
        stats = {}
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "subjects": subjects,
        "seconds": seconds,
        "per_second": subjects / seconds,
        "peak_rss_mib": common.peak_rss_mib(),
        "stats": dict(stats),
    }


def bare_read() -> int:
    """The rows the detectors read, streamed by the same keyset chunks, and nothing else."""
    from conversations.models import Conversation, Message, Participant
    from diagnostics import actions
    from diagnostics.models import Finding, TelemetryBeacon

    count = 0
    for ids in actions.conversation_id_chunks():
        rows = list(Conversation.objects.filter(pk__in=ids))
        list(Participant.objects.filter(conversation_id__in=ids))
        list(TelemetryBeacon.objects.filter(conversation_id__in=ids).order_by("conversation_id", "sent_at"))
        list(Message.objects.filter(conversation_id__in=ids).order_by("conversation_id", "sequence"))
        list(Finding.objects.filter(conversation_id__in=ids, status="open"))
        count += len(rows)
    return count


def run_child(mode: str) -> dict:
    out = common.run([common.PYTHON, "-m", "bench.detectors", "--child", mode], env=common.console_env(DB, redis=False))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> Result:
    started = time.monotonic()
    load_before = common.load_average()
    common.create_database(DB)
    figures: dict[int, dict] = {}
    try:
        common.migrate(DB)
        loaded = 0
        for size in SIZES:
            seed.conversations(DB, loaded + 1, size, spread_seconds=600)  # active ones within their TTL
            seed.telemetry(DB, loaded + 1, size)
            seed.analyze(DB)
            loaded = size
            # Baseline first and last around the detectors, so a noisy moment shows in both.
            bare = run_child("bare")
            detect = run_child("detectors")
            figures[size] = {"detectors": detect, "bare": bare}
            say(
                f"  {size:,} conversations: detectors {detect['per_second']:.0f}/s "
                f"peak {detect['peak_rss_mib']:.0f} MiB ({detect['stats']}); "
                f"bare read {bare['per_second']:.0f}/s peak {bare['peak_rss_mib']:.0f} MiB"
            )
    finally:
        common.drop_database(DB)
    big, small = figures[SIZES[1]], figures[SIZES[0]]
    growth = big["detectors"]["peak_rss_mib"] / small["detectors"]["peak_rss_mib"]
    ratio = big["detectors"]["per_second"] / big["bare"]["per_second"]
    checks = {
        "examined_every_conversation": check(
            big["detectors"]["subjects"], f">= {SIZES[1]:,}", big["detectors"]["subjects"] >= SIZES[1]
        ),
        "peak_memory_growth_10k_to_100k": check(round(growth, 3), "<= 1.15 (flat: streaming)", growth <= 1.15),
    }
    result = Result(
        name="detectors",
        figure="run_detectors over 100,000 conversations with telemetry, conversations/s",
        value=round(big["detectors"]["per_second"], 1),
        unit="conversations/s",
        baseline="bare streaming read of the same rows in the same chunks",
        baseline_value=round(big["bare"]["per_second"], 1),
        ratio=round(ratio, 3),
        target="streaming: peak memory flat from 10k to 100k (reported: conversations/s vs the bare read)",
        passed=all(item["passed"] for item in checks.values()),
        checks=checks,
        details={
            "figures": {str(size): value for size, value in figures.items()},
            "peak_rss_mib": {str(size): figures[size]["detectors"]["peak_rss_mib"] for size in SIZES},
        },
        load_before=load_before,
        load_after=common.load_average(),
        seconds=round(time.monotonic() - started, 1),
    )
    result.write()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["detectors", "bare"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
    else:
        main()
