"""Celery tasks of diagnostics: thin, idempotent, enqueued on commit (console.jobs.enqueue_on_commit)."""

from __future__ import annotations

from celery import shared_task

from diagnostics import actions


@shared_task(name="diagnostics.tasks.run_detectors", acks_late=True)
def run_detectors(
    conversation_ids: list[str] | None = None, session_keys: list[str] | None = None, linked: bool = True
) -> dict:
    """Detectors for these conversations/sessions; with neither, everything, fanned out in chunks.

    Everything is split into one task per chunk of ids so that no single task outlives the
    time limit however large the database; without a broker the chunks run in-process.
    ``linked`` re-examines conversations of the same customer or session too (not needed when
    every conversation is examined anyway).
    """
    if conversation_ids is None and session_keys is None:
        chunks = 0
        for ids in actions.conversation_id_chunks():
            run_detectors.delay(conversation_ids=ids, session_keys=[], linked=False)
            chunks += 1
        for keys in actions.session_key_chunks():
            run_detectors.delay(conversation_ids=[], session_keys=keys, linked=False)
            chunks += 1
        return {"chunks": chunks}
    return dict(actions.run_detectors(conversation_ids, session_keys, linked=linked))


@shared_task(name=actions.RUN_PENDING_DETECTORS, acks_late=True)
def run_pending_detectors() -> dict:
    """Detectors for the conversations ingest marked since the last run (debounced after webhooks)."""
    return dict(actions.run_pending_detectors())


@shared_task(name="diagnostics.tasks.validate_liveness", acks_late=True)
def validate_liveness() -> dict:
    """Heartbeats → socket state (silent/closed), silent_socket, ghost_session, and stale sessions (every 30 s)."""
    return dict(actions.validate_liveness())
