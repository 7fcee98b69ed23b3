"""Permission matrix: every routed API operation × (anonymous, a user with no role, supervisor, admin,
an API client per scope). The operations come from the URL resolver."""

from __future__ import annotations

import pytest
from django.test import Client

from console.permissions import SCOPES
from tests.api.conftest import make_conversation, make_finding, make_message
from tests.security.routes import api_operations
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

# The scope each operation needs and its status when allowed, keyed by URL name and method. The
# matrix below runs over the operations the URL resolver knows (tests/security/routes.py), not over
# this table: a new endpoint without a row here fails, and so does a row for an endpoint that is gone.
EXPECTED = {
    ("api:conversation-list", "get"): ("read", 200),
    ("api:conversation", "get"): ("read", 200),
    ("api:conversation-messages", "get"): ("read", 200),
    ("api:conversation-participants", "get"): ("read", 200),
    ("api:conversation-handoffs", "get"): ("read", 200),
    ("api:conversation-findings", "get"): ("read", 200),
    ("api:conversation-timeline", "get"): ("read", 200),
    ("api:conversation-force-close", "post"): ("force-close", 200),
    ("api:finding-list", "get"): ("read", 200),
    ("api:finding", "get"): ("read", 200),
    ("api:finding-resolve", "post"): ("findings", 200),
    ("api:finding-dismiss", "post"): ("findings", 200),
    ("api:socket-health", "get"): ("read", 200),
    ("api:audit-list", "get"): ("admin", 200),
    ("api:webhook-receipt-list", "get"): ("admin", 200),
    ("api:webhook-receipt", "get"): ("admin", 200),
    ("api:webhook-receipt-replay", "post"): ("admin", 200),
}
OPERATIONS = api_operations()


def test_every_routed_api_operation_has_exactly_one_row():
    routed = {(route.name, method) for route, method in OPERATIONS}
    assert routed - set(EXPECTED) == set(), "new API operations without a row in EXPECTED"
    assert set(EXPECTED) - routed == set(), "rows in EXPECTED for operations that are no longer routed"
    # Every persona the roles and scopes define is in the matrix (console/permissions.py).
    assert {f"client:{scope}" for scope in SCOPES} <= set(PERSONAS)
    assert {"anonymous", "outsider", "supervisor", "admin"} <= set(PERSONAS)


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
@pytest.mark.parametrize(("route", "method"), OPERATIONS, ids=[f"{m} {r.route}" for r, m in OPERATIONS])
def test_it_checks_permissions(route, method, persona, world, request, roles):
    if (route.name, method) not in EXPECTED:
        pytest.fail(f"{method.upper()} /{route.route} ({route.name}) has no row in EXPECTED: say who may call it")
    scope, ok = EXPECTED[(route.name, method)]
    client = Client()
    headers = _credentials(persona, client, request)
    url = route.url(conversation_id="c-1", finding_id=world["finding"], receipt_id=world["receipt"])
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
