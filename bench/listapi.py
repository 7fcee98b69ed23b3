"""4. List API and pages: GET /api/v1/conversations/?state=active&has_open_findings=true and the
dashboard with 100,000 conversations and 50,000 findings vs the same requests with 1,000 / 500.

In-process through the whole stack (bearer token for the API, a supervisor's session for the
page), every statement counted: the query count must not depend on the data's size.
"""

from __future__ import annotations

import time

from bench import common, seed
from bench.common import Result, check, say

DB = common.db_name("list")
SMALL, BIG = (1_000, 500), (100_000, 50_000)
REPEAT = 100
API_URL = "/api/v1/conversations/?state=active&has_open_findings=true"
PAGES = {"dashboard": "/", "conversation list page": "/conversations/?state=active&has_open_findings=yes"}


def measure(browser, supervisor, token) -> dict[str, dict]:
    senders = {"api": lambda: browser.get(API_URL, HTTP_AUTHORIZATION=f"Bearer {token}")}
    senders.update({name: (lambda url=url: supervisor.get(url)) for name, url in PAGES.items()})
    return _measure(senders)


def _measure(senders):
    from bench import inproc

    return inproc.measure_interleaved(senders, repeat=REPEAT)


def main() -> Result:
    started = time.monotonic()
    load_before = common.load_average()
    common.collectstatic()
    common.create_database(DB)
    try:
        common.migrate(DB)
        seed.conversations(DB, 1, SMALL[0])
        seed.findings(DB, 1, SMALL[1])
        seed.analyze(DB)
        from bench import inproc

        inproc.setup(DB)
        token = inproc.bearer_token()
        browser, supervisor = inproc.client(), inproc.supervisor_client()
        small = measure(browser, supervisor, token)
        say(f"  {SMALL[0]:,} conversations / {SMALL[1]:,} findings: {small}")
        with common.timed() as took:
            seed.conversations(DB, SMALL[0] + 1, BIG[0])
            seed.findings(DB, SMALL[1] + 1, BIG[1])
            seed.analyze(DB)
        say(f"  loaded {BIG[0]:,} conversations, 2 participants each, {BIG[1]:,} findings: {took['seconds']:.1f} s")
        big = measure(browser, supervisor, token)
        say(f"  {BIG[0]:,} conversations / {BIG[1]:,} findings: {big}")
    finally:
        common.drop_database(DB)
    limits = {"api": 30, "dashboard": 100, "conversation list page": 100}
    checks = {}
    for name, limit in limits.items():
        checks[f"{name}_p50_ms"] = check(big[name]["p50_ms"], f"< {limit}", big[name]["p50_ms"] < limit)
        checks[f"{name}_queries"] = check(
            f"{big[name]['queries']} vs {small[name]['queries']}",
            "same at both sizes",
            big[name]["queries"] == small[name]["queries"],
        )
    result = Result(
        name="list",
        figure="p50 GET conversations/?state=active&has_open_findings=true, 100k conversations, 50k findings",
        value=big["api"]["p50_ms"],
        unit="ms",
        baseline="the same request with 1,000 conversations, 500 findings",
        baseline_value=small["api"]["p50_ms"],
        ratio=round(big["api"]["p50_ms"] / small["api"]["p50_ms"], 3),
        target="p50 < 30 ms API, < 100 ms page; query count independent of size",
        passed=all(item["passed"] for item in checks.values()),
        checks=checks,
        details={"big": big, "small": small, "sizes": {"small": SMALL, "big": BIG}},
        load_before=load_before,
        load_after=common.load_average(),
        seconds=round(time.monotonic() - started, 1),
    )
    result.write()
    return result


if __name__ == "__main__":
    main()
