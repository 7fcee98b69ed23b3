"""Enqueue follow-up work after the transaction that makes it necessary commits.

Callers name tasks by their registered name (``"diagnostics.tasks.run_detectors"``) so an
app never imports another app's task module. A rolled-back transaction enqueues nothing.
Without a broker (embedded default) the task runs eagerly right after the commit.
"""

from __future__ import annotations

import logging

from django.db import transaction

log = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args, **kwargs) -> None:
    transaction.on_commit(lambda: send(task_name, *args, **kwargs))


def send(task_name: str, *args, **kwargs) -> None:
    from console.celery import app

    try:
        app.tasks[task_name].apply_async(args=args, kwargs=kwargs)
    except Exception:  # the caller's change is committed; losing the follow-up is logged
        log.exception("could not enqueue %s", task_name)
