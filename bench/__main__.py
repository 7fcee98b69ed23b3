"""``make bench`` (``.venv/bin/python -m bench``): the six benchmarks, each against a baseline measured
in the same run, then one summary table. Results: bench/results/<name>.json (git-ignored).

    .venv/bin/python -m bench [--only ingest,history] [--quick]

Each benchmark runs in its own process (peak memory, Django settings and databases are its own)
and bounds its load in count and time; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench import common
from bench.common import say

BENCHMARKS = {
    "ingest": "1. webhook ingest",
    "sweep": "2. expiry sweep",
    "history": "3. history paging",
    "list": "4. list API and pages",
    "live": "5. live push",
    "detectors": "6. detectors",
}
MODULES = {"list": "bench.listapi"}
QUICK_ARGS = {"ingest": ["--rounds", "1", "--seconds", "5", "--fixed-seconds", "5"]}
QUIET_LOAD = 0.7


def leftover_databases() -> list[str]:
    with common.admin_connection() as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [common.DB_PREFIX + "\\_%"])
        return [name for (name,) in rows]


def run(name: str, quick: bool) -> dict | None:
    module = MODULES.get(name, f"bench.{name}")
    command = [common.PYTHON, "-m", module, *(QUICK_ARGS.get(name, []) if quick else [])]
    say(f"{BENCHMARKS[name]} ({module})")
    started = time.monotonic()
    result_file = common.RESULTS / f"{name}.json"
    result_file.unlink(missing_ok=True)
    completed = subprocess.run(command, cwd=common.ROOT, env=common.console_env(common.db_name(), redis=False))
    if completed.returncode != 0 or not result_file.exists():
        say(f"  {name} FAILED (exit {completed.returncode}) after {time.monotonic() - started:.0f} s")
        return None
    say(f"  {name} done in {time.monotonic() - started:.0f} s")
    return json.loads(result_file.read_text())


def table(results: dict[str, dict | None]) -> str:
    header = ("benchmark", "figure", "baseline (same run)", "ratio", "target", "result")
    rows = [header]
    for name, result in results.items():
        if result is None:
            rows.append((BENCHMARKS[name], "—", "—", "—", "—", "ERROR"))
            continue
        failed = [key for key, item in result["checks"].items() if not item["passed"]]
        rows.append(
            (
                BENCHMARKS[name],
                f"{result['value']:,.1f} {result['unit']}",
                f"{result['baseline_value']:,.1f} {result['unit']}",
                f"{result['ratio']:.2f}x",
                result["target"],
                "pass" if result["passed"] else "FAIL: " + ", ".join(failed),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("| " + " | ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def details(results: dict[str, dict | None]) -> str:
    lines = []
    for name, result in results.items():
        if result is None:
            continue
        lines.append(f"{BENCHMARKS[name]}: {result['figure']} vs {result['baseline']}")
        for key, item in result["checks"].items():
            mark = "ok  " if item["passed"] else "FAIL"
            lines.append(f"    {mark} {key}: {item['value']} (target {item['target']})")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated: " + ", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="one short ingest round (a smoke run, not a figure)")
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in leftover_databases():
        say(f"dropping {name}, left by an interrupted run")
        common.drop_database(name)
    load = common.load_average()
    say(
        f"load average {load:.2f} on {common.cpu_count()} cores"
        + (f" — above {QUIET_LOAD}: other work shares the machine, figures will be noisy" if load > QUIET_LOAD else "")
    )
    common.collectstatic()
    started = time.monotonic()
    results = {name: run(name, args.quick) for name in names}
    elapsed = time.monotonic() - started
    summary = table(results)
    print()
    print(summary)
    print()
    print(details(results))
    print(
        f"\n{len(names)} benchmarks in {elapsed / 60:.1f} min; load average {load:.2f} before, "
        f"{common.load_average():.2f} after; results in {common.RESULTS.relative_to(common.ROOT)}/"
    )
    (common.RESULTS / "summary.md").write_text(summary + "\n")
    return 0 if all(result is not None for result in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
