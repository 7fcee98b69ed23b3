import pytest

from diagnostics.actions import create_deployment
from tests.diagnostics.scene import APP_ORIGIN, ORIGIN, Scene


@pytest.fixture
def scene(client, django_capture_on_commit_callbacks):
    current = Scene(client, django_capture_on_commit_callbacks)
    yield current
    current.stop()


@pytest.fixture
def deployment(db):
    return create_deployment(name="acme web", origins=[ORIGIN, APP_ORIGIN], actor="system:test")
