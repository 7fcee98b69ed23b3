"""Loaded into test workers with ``celery worker --include tests.reliability.worker_probe``.

Records every task the worker finishes (name, kwargs, state) as JSON lines in $CONSOLE_TEST_PROBE_FILE,
so a test can see the follow-up work run. When the diagnostics app of this build does not define
run_detectors yet, a stand-in with the same name lets the webhook follow-ups be consumed and recorded.
"""

from __future__ import annotations

import importlib.util
import json
import os

from celery import shared_task
from celery.signals import task_postrun

PROBE_FILE = os.environ.get("CONSOLE_TEST_PROBE_FILE", "")


@task_postrun.connect
def record(sender=None, task_id=None, task=None, args=None, kwargs=None, state=None, **extra):
    if not PROBE_FILE:
        return
    with open(PROBE_FILE, "a") as probe:
        probe.write(json.dumps({"task": sender.name, "kwargs": kwargs or {}, "state": state}, default=str) + "\n")


if importlib.util.find_spec("diagnostics.tasks") is None:

    @shared_task(name="diagnostics.tasks.run_detectors")
    def run_detectors(conversation_ids=None, session_keys=None):
        return {"conversationIds": conversation_ids or [], "sessionKeys": session_keys or []}
