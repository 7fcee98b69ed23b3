"""API clients: created by manage.py, tokens by client credentials, never more than the allowed scopes."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from oauth2_provider.models import Application

from console.models import ApiClient, AuditEntry
from tests.api.conftest import make_conversation
from tests.base import issue_token

pytestmark = pytest.mark.django_db


def _create(*scopes: str) -> dict:
    out, err = StringIO(), StringIO()
    arguments = ["create_api_client", "reporting"]
    for scope in scopes:
        arguments += ["--scope", scope]
    call_command(*arguments, stdout=out, stderr=err)
    return json.loads(out.getvalue())


def test_it_prints_the_client_credentials_as_json_and_stores_only_a_hash():
    printed = _create("read", "force-close")
    assert set(printed) == {"client_id", "client_secret"}
    application = Application.objects.get(client_id=printed["client_id"])
    assert application.client_secret != printed["client_secret"]
    assert application.authorization_grant_type == "client-credentials"
    assert ApiClient.objects.get(application=application).scopes == ["read", "force-close"]
    assert AuditEntry.objects.get(action="api_client.created").target_id == printed["client_id"]


def test_it_refuses_an_unknown_scope_or_none():
    with pytest.raises(CommandError):
        call_command("create_api_client", "x", "--scope", "write", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError):
        call_command("create_api_client", "x", stdout=StringIO(), stderr=StringIO())
    assert not Application.objects.exists()


def test_it_grants_all_allowed_scopes_when_none_are_asked():
    printed = _create("read", "findings")
    token = issue_token(printed["client_id"], printed["client_secret"])
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"read", "findings"}


@pytest.mark.parametrize(
    ("asked", "granted"),
    [("read", {"read"}), ("read admin", {"read"}), ("admin force-close", {"read"}), ("admin", {"read"})],
)
def test_it_never_grants_a_scope_the_client_was_not_created_with(asked, granted):
    printed = _create("read")
    token = issue_token(printed["client_id"], printed["client_secret"], scope=asked)
    assert set(token["scope"].split()) == granted
    make_conversation("c-1")
    audit = Client().get("/api/v1/audit/", HTTP_AUTHORIZATION=f"Bearer {token['access_token']}")
    assert audit.status_code == 403


def test_it_narrows_a_request_to_the_allowed_subset():
    printed = _create("read", "findings", "force-close")
    token = issue_token(printed["client_id"], printed["client_secret"], scope="force-close admin")
    assert token["scope"] == "force-close"


def test_it_refuses_a_wrong_secret_and_other_grant_types(client, admin_user):
    printed = _create("read")
    basic = base64.b64encode(f"{printed['client_id']}:wrong".encode()).decode()
    wrong = client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    good = base64.b64encode(f"{printed['client_id']}:{printed['client_secret']}".encode()).decode()
    password = client.post(
        "/o/token/",
        {"grant_type": "password", "username": "ada-admin", "password": "pw-admin-1"},
        HTTP_AUTHORIZATION=f"Basic {good}",
    )
    assert password.status_code == 400
    assert password.json()["error"] == "unauthorized_client"


def test_it_refuses_a_token_to_an_application_without_allowed_scopes(client):
    from oauth2_provider.generators import generate_client_secret

    secret = generate_client_secret()
    application = Application.objects.create(
        name="made by hand",
        client_type="confidential",
        authorization_grant_type="client-credentials",
        client_secret=secret,
    )
    basic = base64.b64encode(f"{application.client_id}:{secret}".encode()).decode()
    response = client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_it_accepts_client_credentials_in_the_form_body(client):
    printed = _create("read")
    response = client.post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "client_id": printed["client_id"],
            "client_secret": printed["client_secret"],
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "read"


def test_it_records_the_client_as_the_actor(client, api_client_token, fake_force_close):
    make_conversation("c-1")
    token = api_client_token("force-close")
    response = client.post(
        "/api/v1/conversations/c-1/force-close/",
        {"reason": "ghost"},
        content_type="application/json",
        HTTP_AUTHORIZATION=token,
        HTTP_IDEMPOTENCY_KEY='"k-1"',
    )
    assert response.status_code == 200
    client_id = ApiClient.objects.get(scopes=["force-close"]).application.client_id
    assert fake_force_close.calls[0]["actor"] == f"client:{client_id}"
    assert AuditEntry.objects.get(action="conversation.force_closed").actor == f"client:{client_id}"
