"""manage.py replay_events rebuilds the same mirror from stored receipts."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.conversations import test_webhook_cxone as cxone
from tests.conversations import test_webhook_genesys as genesys
from tests.conversations.mirror import snapshot
from tests.conversations.test_ordering_property import STREAM
from tests.webhooks import post_cxone, post_genesys, post_native

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(client):
    for payload in reversed(STREAM):
        post_native(client, payload)
    for payload in genesys.transfer_stream():
        post_genesys(client, payload)
    for payload in cxone.stream():
        post_cxone(client, payload)
    return snapshot()


def test_replay_on_a_populated_mirror_changes_nothing(populated):
    out = io.StringIO()
    call_command("replay_events", stdout=out, progress_every=10)
    assert snapshot() == populated
    assert "replayed" in out.getvalue()


def test_replay_with_reset_rebuilds_the_same_mirror(populated):
    out = io.StringIO()
    call_command("replay_events", reset=True, noinput=True, stdout=out)
    assert snapshot() == populated
    assert "reset: deleted" in out.getvalue()
