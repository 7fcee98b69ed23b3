"""console.idempotency: key parsing and purging."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from console import idempotency
from console.models import IdempotencyKey


@pytest.mark.parametrize(
    ("raw", "key"),
    [('"8e03978e-40d5"', "8e03978e-40d5"), ("bare-token", "bare-token"), (r'"a\"b\\c"', 'a"b\\c'), ('  "x"  ', "x")],
)
def test_it_reads_structured_field_strings_and_bare_tokens(raw, key):
    assert idempotency.parse_key(raw) == key


@pytest.mark.parametrize("raw", [None, "", '""', r'"bad\escape"', '"a"b"', "tab\there", "x" * 256])
def test_it_refuses_malformed_keys(raw):
    with pytest.raises(idempotency.InvalidKey):
        idempotency.parse_key(raw)


def test_the_fingerprint_ignores_key_order_and_whitespace_but_not_values():
    one = idempotency.fingerprint("post", "/p/", {"a": 1, "b": [1, 2]})
    assert one == idempotency.fingerprint("POST", "/p/", {"b": [1, 2], "a": 1})
    assert one != idempotency.fingerprint("POST", "/p/", {"a": 1, "b": [2, 1]})
    assert one != idempotency.fingerprint("POST", "/q/", {"a": 1, "b": [1, 2]})


@pytest.mark.django_db
def test_it_purges_expired_keys_but_not_a_running_one():
    start = timezone.now()
    done = idempotency.claim("client:a", "k-done", "f")
    idempotency.complete(done.record, 200, {"ok": True})
    running = idempotency.claim("client:a", "k-running", "f")
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        fresh = idempotency.claim("client:a", "k-fresh", "f")
        idempotency.complete(fresh.record, 200, {})
    IdempotencyKey.objects.filter(pk=running.record.pk).update(locked_until=start + timedelta(days=2))
    with time_machine.travel(start + timedelta(hours=24, minutes=1), tick=False):
        assert idempotency.purge_expired() == 1
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"k-running", "k-fresh"}
