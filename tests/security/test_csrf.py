"""CSRF on every write a browser session can make: without the token 403 and nothing changed, with it done.

Django's test client skips CSRF checks unless asked (``Client(enforce_csrf_checks=True)``), as a
browser on another site would not. The token is taken the way the pages give it: the ``csrftoken``
cookie set by a page with a form, sent back as ``csrfmiddlewaretoken`` (forms) or ``X-CSRFToken``
(the page's fetch calls). The API's session writes come from the resolver: a new write operation
without a case here fails.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client

from console.models import AuditEntry
from conversations.models import Conversation, WebhookReceipt
from diagnostics.models import Finding
from tests.api.conftest import FakeForceClose, make_conversation, make_finding
from tests.security.routes import api_operations
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_force_close(monkeypatch):
    import conversations.actions

    fake = FakeForceClose()
    monkeypatch.setattr(conversations.actions, "force_close", fake, raising=False)
    return fake


@pytest.fixture
def world(roles, fake_force_close):
    make_conversation("c-1")
    finding = make_finding("c-1")
    response = post_native(
        Client(), event("evt-csrf", "message.created", "c-2", 1, {"messageId": "m-1", "direction": "inbound"})
    )
    assert response.status_code == 200
    return {"finding": finding.pk, "receipt": WebhookReceipt.objects.get(event_id="evt-csrf").pk}


def _snapshot() -> tuple:
    """What a session write can change: audit rows, finding statuses, conversation states, receipts."""
    return (
        AuditEntry.objects.count(),
        tuple(Finding.objects.order_by("pk").values_list("status", flat=True)),
        tuple(Conversation.objects.order_by("pk").values_list("state", flat=True)),
        WebhookReceipt.objects.count(),
    )


def _browser(user=None) -> tuple[Client, str]:
    """A CSRF-enforcing client (logged in as ``user``) holding the token a page gave it."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
        page = client.get("/")  # the dashboard's logout form sets the cookie
    else:
        page = client.get("/login/")
    assert page.status_code == 200
    return client, client.cookies[settings.CSRF_COOKIE_NAME].value


# (who, JSON body, extra headers) per API write; the matrix of who may is tests/api/test_permissions.py.
API_WRITES = {
    "api:conversation-force-close": ("admin_user", {"reason": "ghost session"}, {"HTTP_IDEMPOTENCY_KEY": '"k-1"'}),
    "api:finding-resolve": ("supervisor", {"note": "fixed"}, {}),
    "api:finding-dismiss": ("supervisor", {"note": "noise"}, {}),
    "api:webhook-receipt-replay": ("admin_user", {}, {}),
}
WRITES = [(route, method) for route, method in api_operations() if method != "get"]


@pytest.mark.parametrize(("route", "method"), WRITES, ids=[f"{m} {r.route}" for r, m in WRITES])
def test_a_session_api_write_needs_the_csrf_token(route, method, world, request):
    if route.name not in API_WRITES:
        pytest.fail(f"{method.upper()} /{route.route} is a session write without a CSRF case in API_WRITES")
    persona, body, headers = API_WRITES[route.name]
    client, token = _browser(request.getfixturevalue(persona))
    url = route.url(conversation_id="c-1", finding_id=world["finding"], receipt_id=world["receipt"])
    before = _snapshot()

    refused = getattr(client, method)(url, body, content_type="application/json", **headers)
    assert refused.status_code == 403, refused.content
    assert refused["Content-Type"] == "application/problem+json"
    assert "CSRF" in refused.json()["detail"]
    assert _snapshot() == before

    done = getattr(client, method)(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token, **headers)
    assert done.status_code == 200, done.content
    assert _snapshot() != before or route.name == "api:webhook-receipt-replay"
    if route.name == "api:webhook-receipt-replay":
        assert done.json()["outcome"] in ("duplicate", "applied", "stale")


def test_a_token_client_needs_no_csrf_token(world, api_client_token):
    """CSRF protects cookies; a bearer token is not sent by a browser on its own."""
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/api/v1/findings/{world['finding']}/resolve/",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=api_client_token("findings"),
    )
    assert response.status_code == 200, response.content


def test_the_login_form_needs_the_csrf_token(supervisor):
    client, token = _browser()
    credentials = {"username": "sam-supervisor", "password": "pw-supervisor-1"}
    assert client.post("/login/", credentials).status_code == 403
    assert SESSION_KEY not in client.session
    response = client.post("/login/", {**credentials, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(supervisor.pk)


def test_the_logout_form_needs_the_csrf_token(supervisor):
    client, token = _browser(supervisor)
    assert client.post("/logout/").status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302  # signed out: back to the login page


@pytest.mark.parametrize(("status", "after"), [("resolve", "resolved"), ("dismiss", "dismissed")])
def test_the_finding_page_forms_need_the_csrf_token(status, after, supervisor, world):
    client, token = _browser(supervisor)
    url = f"/findings/{world['finding']}/{status}/"
    assert client.post(url, {"note": "checked"}).status_code == 403
    assert Finding.objects.get(pk=world["finding"]).status == "open"
    response = client.post(url, {"note": "checked", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Finding.objects.get(pk=world["finding"]).status == after


def test_the_admin_login_needs_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    assert client.get("/admin/login/").status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    credentials = {"username": "ada-admin", "password": "pw-admin-1", "next": "/admin/"}
    assert client.post("/admin/login/", credentials).status_code == 403
    assert SESSION_KEY not in client.session
    assert client.post("/admin/login/", {**credentials, "csrfmiddlewaretoken": token}).status_code == 302
    assert client.session[SESSION_KEY] == str(admin_user.pk)


def test_the_admin_force_close_form_needs_the_csrf_token(admin_user, world, fake_force_close):
    client, token = _browser(admin_user)
    url = "/admin/conversations/conversation/c-1/force-close/"
    assert client.post(url, {"reason": "ghost session"}).status_code == 403
    assert fake_force_close.calls == []
    assert Conversation.objects.get(pk="c-1").state == "active"
    response = client.post(url, {"reason": "ghost session", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Conversation.objects.get(pk="c-1").state == "closed"


def test_an_admin_action_needs_the_csrf_token(supervisor, world):
    """Resolving findings from the admin's list (an action with a confirmation form)."""
    client, token = _browser(supervisor)
    form = {"action": "resolve_selected", "_selected_action": [world["finding"]], "confirm": "1", "note": "seen"}
    url = "/admin/diagnostics/finding/"
    before = _snapshot()
    assert client.post(url, form).status_code == 403
    assert _snapshot() == before
    assert client.post(url, {**form, "csrfmiddlewaretoken": token}).status_code == 302
    assert Finding.objects.get(pk=world["finding"]).status == "resolved"
