"""Loaded into test workers with ``celery worker --include tests.reliability.sweep_probe``: makes the expiry
sweep observable, and slow or stuck where a test needs it to be.

Every statement of ``conversations.actions.expire_stale`` (one per TTL group, each in its own transaction)
is logged as JSON lines in $CONSOLE_TEST_SWEEP_LOG: ``{"event": "begin"|"end"|"hanging", "pid", "at",
"rows"}`` ("end" after the statement ran, still inside its transaction). Switches:

* CONSOLE_TEST_SWEEP_HOLD=<seconds>: hold each statement's transaction open that long before it commits
  (its row locks with it), so that two sweeps overlap;
* CONSOLE_TEST_SWEEP_HANG_AT=<n>: after the n-th statement of this process ran, before its commit, log
  "hanging" and sleep (the test SIGKILLs the worker meanwhile).
"""

from __future__ import annotations

import json
import os
import time

from django.db.backends.signals import connection_created

LOG_FILE = os.environ.get("CONSOLE_TEST_SWEEP_LOG", "")
HOLD_SECONDS = float(os.environ.get("CONSOLE_TEST_SWEEP_HOLD", "0") or 0)
HANG_AT = int(os.environ.get("CONSOLE_TEST_SWEEP_HANG_AT", "0") or 0)
_statements = 0


def _log(event: str, rows: int | None = None) -> None:
    if LOG_FILE:
        with open(LOG_FILE, "a") as log:
            log.write(json.dumps({"event": event, "pid": os.getpid(), "at": time.time(), "rows": rows}) + "\n")


def _is_sweep(sql: str) -> bool:
    return "WITH pending AS" in sql and "'conversation.expired'" in sql


def observe_sweep(execute, sql, params, many, context):
    global _statements
    if not _is_sweep(sql):
        return execute(sql, params, many, context)
    _statements += 1
    _log("begin")
    result = execute(sql, params, many, context)
    _log("end", context["cursor"].rowcount)
    if HOLD_SECONDS:
        time.sleep(HOLD_SECONDS)
    if HANG_AT and _statements == HANG_AT:
        _log("hanging")
        time.sleep(120)
    return result


def _install(sender, connection, **kwargs):
    if observe_sweep not in connection.execute_wrappers:
        connection.execute_wrappers.append(observe_sweep)


connection_created.connect(_install)
