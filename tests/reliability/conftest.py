"""Fixtures shared by the reliability tests."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import require_service
from tests.reliability.processes import RedisServer


@pytest.fixture
def redis_server(tmp_path):
    """A private redis-server on a free port for one test (it may stop and start it); gone afterwards."""
    require_service("redis-server", shutil.which("redis-server") is not None, "redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()
