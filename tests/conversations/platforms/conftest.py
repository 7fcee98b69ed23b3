"""Platform clients are tested against respx-mocked APIs; sleeps are recorded, never slept."""

from __future__ import annotations

import pytest

from conversations.platforms.base import TOKENS


@pytest.fixture(autouse=True)
def fresh_tokens():
    TOKENS.clear()
    yield
    TOKENS.clear()


@pytest.fixture
def sleeps() -> list[float]:
    return []
