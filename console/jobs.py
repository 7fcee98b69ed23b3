"""Enqueue follow-up work after the transaction that makes it necessary commits.

Callers name tasks by their registered name (``"diagnostics.tasks.run_detectors"``) so an
app never imports another app's task module. A rolled-back transaction enqueues nothing.
Without a broker (embedded default) the task runs eagerly right after the commit.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import transaction

log = logging.getLogger(__name__)
_DEBOUNCE_LOCK = threading.Lock()


def enqueue_on_commit(task_name: str, *args, **kwargs) -> None:
    transaction.on_commit(lambda: send(task_name, *args, **kwargs))


def send(task_name: str, *args, **kwargs) -> None:
    from console.celery import app

    try:
        app.tasks[task_name].apply_async(args=args, kwargs=kwargs)
    except Exception:  # the caller's change is committed; losing the follow-up is logged
        log.exception("could not enqueue %s", task_name)


def enqueue_debounced_on_commit(task_name: str, *, delay: float) -> None:
    """After the commit, make sure a run of the (argument-less) task starts within ``delay`` seconds.

    The commits of one process within ``delay`` share one run: the first publishes the task with
    that countdown; the later ones, committed before the run starts, publish nothing, since the run
    will see their rows. So the work the task looks for must be rows written in the committing
    transaction. A run that is lost (worker died) is followed by the next publish after ``delay``,
    and the periodic sweeps find the rest.
    """
    transaction.on_commit(lambda: send_debounced(task_name, delay=delay))


# Per process: when the run this process published last will start (time.monotonic()).
_DEBOUNCED_RUN_STARTS: dict[str, float] = {}
# A commit this close to that start publishes another run (the worker's clock may run a little ahead).
DEBOUNCE_MARGIN_SECONDS = 0.5


def send_debounced(task_name: str, *, delay: float) -> None:
    from console.celery import app

    if app.conf.task_always_eager or delay <= DEBOUNCE_MARGIN_SECONDS:
        send(task_name)
        return
    now = time.monotonic()
    with _DEBOUNCE_LOCK:
        if now < _DEBOUNCED_RUN_STARTS.get(task_name, 0.0) - DEBOUNCE_MARGIN_SECONDS:
            return
        _DEBOUNCED_RUN_STARTS[task_name] = now + delay
    try:
        app.tasks[task_name].apply_async(countdown=delay)
    except Exception:  # the caller's change is committed; the next commit tries again
        log.exception("could not enqueue %s", task_name)
        with _DEBOUNCE_LOCK:
            _DEBOUNCED_RUN_STARTS.pop(task_name, None)
