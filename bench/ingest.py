"""1. Webhook ingest: the console (gunicorn sync workers + its Celery worker) vs two minimal receivers.

Interleaved rounds (console, ORM, raw SQL; the order rotates), a fresh database for every
server run, the same pre-signed requests for all three in a round; the headline is the median
of the per-round ratios. Then a fixed 200 req/s open-loop run for latency and the exact
"rows applied == 2xx answers" check.
"""

from __future__ import annotations

import argparse
import time

from bench import common, load
from bench.common import Result, check, say

CONSOLE_TEMPLATE = common.db_name("tpl_console")
BASELINE_TEMPLATE = common.db_name("tpl_baseline")
RUN_DB = common.db_name("ingest")
ACCEPTED_SQL = "SELECT count(*) FROM conversations_webhookreceipt WHERE outcome IN ('applied', 'stale')"
BASELINE_SQL = "SELECT count(*) FROM baseline_event"
KINDS = ("console", "orm", "raw")
WARMUP_EVENTS = 6000


def prepare_templates() -> None:
    common.create_database(CONSOLE_TEMPLATE)
    common.migrate(CONSOLE_TEMPLATE)
    common.create_database(BASELINE_TEMPLATE)
    common.migrate(BASELINE_TEMPLATE, settings="bench.baseline.settings")


class Target:
    """One server under load on a fresh database: the console with its worker, or a baseline."""

    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name
        self.servers: list[common.Server] = []

    def __enter__(self):
        common.create_database(RUN_DB, template=CONSOLE_TEMPLATE if self.kind == "console" else BASELINE_TEMPLATE)
        common.flush_redis()
        if self.kind == "console":
            env = common.console_env(RUN_DB)
            self.web = common.gunicorn("console.wsgi:application", env=env, name=f"{self.name}-gunicorn")
            self.worker = common.celery_worker(env=env, name=f"{self.name}-worker")
            self.servers = [self.web, self.worker]
        else:
            env = common.console_env(RUN_DB, redis=False, BENCH_BASELINE=self.kind)
            self.web = common.gunicorn("bench.baseline.wsgi:application", env=env, name=f"{self.name}-gunicorn")
            self.worker = None
            self.servers = [self.web]
        return self

    def __exit__(self, *exc):
        for server in reversed(self.servers):
            server.stop()
        common.drop_database(RUN_DB)

    def rows(self) -> int:
        return common.scalar(RUN_DB, ACCEPTED_SQL if self.kind == "console" else BASELINE_SQL)

    def queued_tasks(self) -> int:
        import redis

        return redis.Redis.from_url(common.REDIS_URL).llen("celery") if self.kind == "console" else 0


def saturate(kind: str, round_no: int, events, warmup, *, seconds: float) -> dict:
    with Target(kind, f"ingest-{kind}") as target:
        load.run_wrk(target.web.port, load.write_request_file(warmup, load.request_file_path("warmup")), seconds=2)
        request_file = load.write_request_file(events, load.request_file_path("measured"))
        time.sleep(0.5)  # the warm-up's last requests (in flight when wrk stopped) finish
        before = target.rows()
        cpu = (target.web.cpu_seconds(), target.worker.cpu_seconds() if target.worker else 0.0, common.postgres_cpu())
        started = time.monotonic()
        summary = load.run_wrk(target.web.port, request_file, seconds=seconds)
        wall = time.monotonic() - started
        time.sleep(0.5)
        rows = target.rows() - before
        summary.update(
            kind=kind,
            round=round_no,
            rows_applied=rows,
            # wrk stops with up to one request per connection in flight: applied, but not answered.
            answered_2xx_vs_rows=rows - summary["ok"],
            web_cpu_s=target.web.cpu_seconds() - cpu[0],
            worker_cpu_s=(target.worker.cpu_seconds() - cpu[1]) if target.worker else 0.0,
            postgres_cpu_s=common.postgres_cpu() - cpu[2],
            wall_s=wall,
            celery_backlog=target.queued_tasks(),
        )
    say(
        f"  round {round_no} {kind:7s} {summary['rps']:7.0f} req/s  p99 {summary['p99_ms']:.1f} ms  "
        f"non-2xx {summary['non2xx']}  web cpu {summary['web_cpu_s']:.1f}s worker cpu {summary['worker_cpu_s']:.1f}s "
        f"pg cpu {summary['postgres_cpu_s']:.1f}s backlog {summary['celery_backlog']}"
    )
    return summary


def fixed_rate(kind: str, events, warmup, *, rate: float) -> dict:
    with Target(kind, f"ingest-fixed-{kind}") as target:
        load.run_wrk(target.web.port, load.write_request_file(warmup, load.request_file_path("warmup")), seconds=2)
        time.sleep(0.5)  # the warm-up's last requests (in flight when wrk stopped) finish
        before = target.rows()
        out = load.fixed_rate(target.web.port, events, rate=rate)
        # Every request was answered (the client waits for each), so the counts must agree exactly.
        rows = target.rows() - before
    latencies = out["latencies_ms"]
    ok = sum(count for status, count in out["statuses"].items() if 200 <= status < 300)
    result = {
        "kind": kind,
        "rate": rate,
        "sent": len(events),
        "ok": ok,
        "statuses": {str(k): v for k, v in out["statuses"].items()},
        "rows_applied": rows,
        "p50_ms": common.percentile(latencies, 50),
        "p99_ms": common.percentile(latencies, 99),
        "max_ms": max(latencies),
    }
    say(
        f"  fixed {rate:.0f}/s {kind:7s} p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
        f"2xx {ok}/{len(events)} rows {rows}"
    )
    return result


def main(argv=None) -> Result:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--fixed-seconds", type=float, default=10)
    args = parser.parse_args(argv)
    started = time.monotonic()
    load_before = common.load_average()
    prepare_templates()
    capacity = int(args.seconds * 4000)  # more than any receiver here can take: wrk never wraps around
    runs: list[dict] = []
    try:
        for round_no in range(args.rounds):
            # One stream: the warm-up is its beginning, so the measured part is in steady state
            # (conversations at every stage of their life, not 300 starting at once).
            stream = load.build_events(WARMUP_EVENTS + capacity, prefix=f"r{round_no}", seed=round_no)
            warmup, events = stream[:WARMUP_EVENTS], stream[WARMUP_EVENTS:]
            order = KINDS[round_no % 3 :] + KINDS[: round_no % 3]
            for kind in order:
                runs.append(saturate(kind, round_no, events, warmup, seconds=args.seconds))
        stream = load.build_events(WARMUP_EVENTS + int(args.rate * args.fixed_seconds), prefix="f", seed=999)
        fixed = {
            kind: fixed_rate(kind, stream[WARMUP_EVENTS:], stream[:WARMUP_EVENTS], rate=args.rate)
            for kind in ("console", "orm")
        }
    finally:
        for name in (CONSOLE_TEMPLATE, BASELINE_TEMPLATE):
            common.drop_database(name)

    def rps(kind, round_no):
        return next(run["rps"] for run in runs if run["kind"] == kind and run["round"] == round_no)

    vs_orm = [rps("console", r) / rps("orm", r) for r in range(args.rounds)]
    vs_raw = [rps("console", r) / rps("raw", r) for r in range(args.rounds)]
    medians = {kind: common.median([run["rps"] for run in runs if run["kind"] == kind]) for kind in KINDS}
    console_runs = [run for run in runs if run["kind"] == "console"]
    ratio_orm, ratio_raw = common.median(vs_orm), common.median(vs_raw)
    console_requests = max(1, sum(run["requests"] for run in console_runs))
    fixed_console = fixed["console"]
    checks = {
        "console_vs_orm_at_saturation": check(round(ratio_orm, 3), ">= 1.1", ratio_orm >= 1.1),
        "console_vs_raw_at_saturation": check(round(ratio_raw, 3), "about 0.7 (reference)", True),
        "p99_ms_at_fixed_rate": check(
            round(fixed_console["p99_ms"], 1), f"< 50 at {args.rate:.0f} req/s", fixed_console["p99_ms"] < 50
        ),
        "rows_applied_equal_2xx_fixed_rate": check(
            f"{fixed_console['rows_applied']} rows / {fixed_console['ok']} 2xx of {fixed_console['sent']}",
            "equal, all 2xx",
            fixed_console["rows_applied"] == fixed_console["ok"] == fixed_console["sent"],
        ),
        "no_errors_at_saturation": check(
            sum(run["non2xx"] + sum(run["errors"].values()) for run in console_runs),
            "0 non-2xx / socket errors",
            all(run["non2xx"] == 0 and not any(run["errors"].values()) for run in console_runs),
        ),
        "rows_applied_vs_2xx_at_saturation": check(
            [run["answered_2xx_vs_rows"] for run in console_runs],
            "0..8 (requests in flight when wrk stops)",
            all(0 <= run["answered_2xx_vs_rows"] <= 8 for run in console_runs),
        ),
    }
    result = Result(
        name="ingest",
        figure="console req/s at saturation (median of rounds)",
        value=round(medians["console"], 1),
        unit="req/s",
        baseline="minimal Django ORM receiver",
        baseline_value=round(medians["orm"], 1),
        ratio=round(ratio_orm, 3),
        target="ratio >= 1.1 (~0.7x raw SQL), p99 < 50 ms at 200/s, rows == 2xx",
        passed=all(item["passed"] for item in checks.values()),
        checks=checks,
        details={
            "mix_of_measured_requests": load.mix_of(events),
            "raw_sql_median_rps": round(medians["raw"], 1),
            "ratios_vs_orm_per_round": [round(x, 3) for x in vs_orm],
            "ratios_vs_raw_per_round": [round(x, 3) for x in vs_raw],
            "runs": runs,
            "fixed_rate": fixed,
            "console_cpu_per_request_ms": {
                part: round(1000 * sum(r[f"{part}_cpu_s"] for r in console_runs) / console_requests, 3)
                for part in ("web", "worker", "postgres")
            },
        },
        load_before=load_before,
        load_after=common.load_average(),
        seconds=round(time.monotonic() - started, 1),
    )
    result.write()
    return result


if __name__ == "__main__":
    main()
