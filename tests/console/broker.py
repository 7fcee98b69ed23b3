"""Point the Celery app at a real broker URL for a test (the suite otherwise runs tasks eagerly)."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager

from console import jobs
from console.celery import app
from console.jobs import BREAKER

SHARED_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/2")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextmanager
def celery_broker(url: str):
    """Publish to ``url`` instead of running eagerly; pooled connections are dropped on the way in and out."""
    saved = {"broker_url": app.conf.broker_url, "task_always_eager": app.conf.task_always_eager}
    app.conf.update(broker_url=url, task_always_eager=False)
    app._after_fork()  # drop pooled broker connections, as Celery does in a forked child
    BREAKER.reset()
    jobs._DEBOUNCED_RUN_STARTS.clear()  # a debounced run published to another broker is not due here
    try:
        yield app
    finally:
        app.conf.update(**saved)
        app._after_fork()
        BREAKER.reset()


def install_detectors_task() -> None:
    """Webhook ingest enqueues diagnostics.tasks.run_detectors: register the worker probe's stand-in in
    this process too when this build's diagnostics app does not define it (the real one when it does)."""
    import tests.reliability.worker_probe  # noqa: F401 - registers the task as an import side effect
