"""Personas shared by the tests: a supervisor, an admin, an outsider with no role."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from console.roles import ensure_roles


@pytest.fixture
def roles(db):
    return ensure_roles()


@pytest.fixture
def supervisor(roles):
    supervisors, _ = roles
    user = get_user_model().objects.create_user("sam-supervisor", password="pw-supervisor-1", is_staff=True)
    user.groups.add(supervisors)
    return user


@pytest.fixture
def admin_user(roles):
    _, admins = roles
    user = get_user_model().objects.create_user("ada-admin", password="pw-admin-1", is_staff=True)
    user.groups.add(admins)
    return user


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("oscar-outsider", password="pw-outsider-1")


# --- API personas: an OAuth2 client per scope, with a real token from /o/token/ ------------------


def issue_token(client_id: str, client_secret: str, scope: str | None = None) -> dict:
    """POST /o/token/ with HTTP Basic client authentication, as curl does in the README."""
    import base64

    from django.test import Client

    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    response = Client().post("/o/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def api_client_token(db):
    """``api_client_token("read", "findings")`` → the Authorization header value of a fresh client's token."""
    from console.actions import create_api_client

    def make(*scopes: str) -> str:
        created = create_api_client(f"test-{'-'.join(scopes)}", list(scopes))
        return f"Bearer {issue_token(created.client_id, created.client_secret)['access_token']}"

    return make
