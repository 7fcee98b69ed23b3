"""Permission matrix: every endpoint × (anonymous, outsider, supervisor, admin, API client per scope)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import make_conversation, make_finding, make_message
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "outsider",
    "supervisor",
    "admin",
    "client:read",
    "client:findings",
    "client:force-close",
    "client:admin",
)
# Who may call an endpoint that needs each scope (docs/architecture.md, "Permissions").
ALLOWED = {
    "read": {"supervisor", "admin", "client:read", "client:admin"},
    "findings": {"supervisor", "admin", "client:findings", "client:admin"},
    "force-close": {"admin", "client:force-close", "client:admin"},
    "admin": {"admin", "client:admin"},
}

# (method, path, scope, status when allowed); {finding} and {receipt} are filled in per test.
ENDPOINTS = [
    ("get", "/api/v1/conversations/", "read", 200),
    ("get", "/api/v1/conversations/c-1/", "read", 200),
    ("get", "/api/v1/conversations/c-1/messages/", "read", 200),
    ("get", "/api/v1/conversations/c-1/participants/", "read", 200),
    ("get", "/api/v1/conversations/c-1/handoffs/", "read", 200),
    ("get", "/api/v1/conversations/c-1/findings/", "read", 200),
    ("get", "/api/v1/conversations/c-1/timeline/", "read", 200),
    ("post", "/api/v1/conversations/c-1/force-close/", "force-close", 200),
    ("get", "/api/v1/findings/", "read", 200),
    ("get", "/api/v1/findings/{finding}/", "read", 200),
    ("post", "/api/v1/findings/{finding}/resolve/", "findings", 200),
    ("post", "/api/v1/findings/{finding}/dismiss/", "findings", 200),
    ("get", "/api/v1/socket-health/", "read", 200),
    ("get", "/api/v1/audit/", "admin", 200),
    ("get", "/api/v1/webhook-receipts/", "admin", 200),
    ("get", "/api/v1/webhook-receipts/{receipt}/", "admin", 200),
    ("post", "/api/v1/webhook-receipts/{receipt}/replay/", "admin", 200),
]


def _credentials(persona, client, request):
    if persona == "anonymous":
        return {}
    if persona.startswith("client:"):
        token = request.getfixturevalue("api_client_token")(persona.split(":", 1)[1])
        return {"HTTP_AUTHORIZATION": token}
    user = request.getfixturevalue({"outsider": "outsider", "supervisor": "supervisor", "admin": "admin_user"}[persona])
    client.force_login(user)
    return {}


@pytest.fixture
def world(fake_force_close):
    conversation = make_conversation("c-1")
    make_message(conversation, "m-1", 1)
    finding = make_finding("c-1")
    response = post_native(
        Client(),
        event("evt-perm", "message.created", "c-2", 1, {"messageId": "m-9", "direction": "inbound", "text": "hi"}),
    )
    assert response.status_code == 200
    from conversations.models import WebhookReceipt

    return {"finding": finding.pk, "receipt": WebhookReceipt.objects.get(event_id="evt-perm").pk}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "path", "scope", "ok"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _s, _o in ENDPOINTS])
def test_it_checks_permissions(method, path, scope, ok, persona, world, request, roles):
    client = Client()
    headers = _credentials(persona, client, request)
    url = path.format(**world)
    if method == "post":
        body = {"reason": "ghost session"} if "force-close" in url else {}
        headers["HTTP_IDEMPOTENCY_KEY"] = f'"key-{persona}"'
        response = client.post(url, body, content_type="application/json", **headers)
    else:
        response = client.get(url, **headers)
    if persona == "anonymous":
        expected = 401
    else:
        expected = ok if persona in ALLOWED[scope] else 403
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == expected
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema/?format=json"])
def test_it_serves_the_schema_only_to_console_users_and_clients(path, client, supervisor, outsider, api_client_token):
    assert client.get(path).status_code == 401
    assert client.get(path, HTTP_AUTHORIZATION=api_client_token("findings")).status_code == 200
    client.force_login(outsider)
    assert client.get(path).status_code == 403
    client.force_login(supervisor)
    assert client.get(path).status_code == 200


def test_it_sends_a_browser_without_session_to_the_login_page_for_the_docs(client, supervisor, outsider):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/api/docs/")
    client.force_login(outsider)
    assert client.get("/api/docs/").status_code == 403
    client.force_login(supervisor)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    # Swagger UI from the bundled sidecar files, no CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


def test_it_refuses_a_session_post_without_csrf_token(supervisor):
    finding = make_finding("c-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    response = client.post(f"/api/v1/findings/{finding.pk}/resolve/", {}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    finding.refresh_from_db()
    assert finding.status == "open"


def test_it_answers_401_for_an_invalid_or_expired_token(client, api_client_token):
    from django.utils import timezone
    from oauth2_provider.models import AccessToken

    make_conversation("c-1")
    response = client.get("/api/v1/conversations/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    token = api_client_token("read")
    AccessToken.objects.update(expires=timezone.now())
    assert client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=token).status_code == 401
