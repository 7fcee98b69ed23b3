"""No endpoint reachable without authentication: every URL pattern of the project, walked anonymously.

The routes come from the URL resolver (tests/security/routes.py), so a new page, API operation or
admin view is checked the day it is routed. What anonymous may get:

* 401 (API, schema, webhooks without a signature, telemetry without a key, /o/ without client
  credentials), 403, 405 (a method the endpoint does not take), 404 for a webhook source that does
  not exist;
* a redirect that ends on a login page (pages and the Django admin);
* 200 only from the few endpoints in ``PUBLIC``, each for a stated reason.

The permission matrix for signed-in personas is tests/api/test_permissions.py; the schemathesis run
as an authorised client is tests/api/test_schema.py. Here: schemathesis without credentials (401 for
every generated request) and the check that the schema documents every routed API operation.
"""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import urlsplit

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from django.test import Client
from django.urls import Resolver404, resolve

from conversations.ingest import PUBLIC_SOURCES
from conversations.models import WebhookReceipt
from tests.api.conftest import make_conversation, make_finding, make_message
from tests.schemacases import check_every_operation
from tests.security.routes import all_routes, api_operations, api_routes
from tests.webhooks import event, post_native

pytestmark = pytest.mark.django_db

ROUTES = all_routes()
LOGIN_PAGES = ("/login/", "/admin/login/")
# Anonymous 200s, each with its reason; anything else answering 200 fails.
PUBLIC = {
    "healthz": "liveness probe: {'status': 'ok'} and nothing else",
    "readyz": "readiness probe: which part fails, nothing else",
    "login": "the login form",
    "admin:login": "the admin's login form",
    "admin:logout": "says 'logged out'; there is no session to end",
}
# Authenticated by a signature, a deployment key or client credentials in the request itself.
CREDENTIALS_IN_REQUEST = ("webhook", "telemetry", "oauth2_provider:token", "oauth2_provider:revoke-token")
PROBE_KEYS = {"status", "checks", "database", "broker", "channelLayer", "failing"}


@pytest.fixture
def world(roles):
    """Rows behind every sample URL, so that a view leaking data would have data to leak."""
    conversation = make_conversation("c-1")
    make_message(conversation, "m-1", 1)
    finding = make_finding("c-1")
    response = post_native(
        Client(),
        event("evt-access", "message.created", "c-1", 2, {"messageId": "m-2", "direction": "inbound", "text": "hello"}),
    )
    assert response.status_code == 200
    receipt = WebhookReceipt.objects.get(event_id="evt-access")
    return {
        "conversation_id": "c-1",
        "finding_id": finding.pk,
        "receipt_id": receipt.pk,
        "pk": finding.pk,
        "object_id": "c-1",
    }


def _samples(route, world) -> list[str]:
    if route.name == "webhook":
        return [route.url(source=source) for source in (*PUBLIC_SOURCES, "no-such-source")]
    return [route.url(**world)]


def _final(client: Client, method: str, url: str):
    """The answer after following redirects within the site (at most 5)."""
    response = getattr(client, method)(url)
    for _ in range(5):
        if response.status_code not in (301, 302, 303, 307, 308):
            break
        location = urlsplit(response["Location"])
        assert not location.netloc or location.netloc == "testserver", f"{method} {url} redirects off-site"
        url = location.path + (f"?{location.query}" if location.query else "")
        response = client.get(url)
    return response, url


def test_the_walk_sees_every_part_of_the_project():
    """The walk is not vacuous: pages, API, admin, schema, webhooks, telemetry and OAuth are routed."""
    names = {route.name for route in ROUTES}
    assert {
        "dashboard",
        "conversation",
        "finding-resolve",
        "receipts",
        "audit",
        "api:conversation-force-close",
        "api:webhook-receipt-replay",
        "api-schema",
        "api-docs",
        "webhook",
        "telemetry",
        "oauth2_provider:token",
        "admin:index",
        "admin:conversations_conversation_force_close",
        "admin:auth_user_change",
    } <= names
    assert len(ROUTES) > 100


@pytest.mark.parametrize("route", ROUTES, ids=[f"{route.name or '-'} /{route.route}" for route in ROUTES])
def test_anonymous_gets_nothing_from_any_route(route, world):
    client = Client()
    for url in _samples(route, world):
        for method in ("get", "post", "delete"):
            response, landed = _final(client, method, url)
            status = response.status_code
            where = f"{method.upper()} {url} ({route.name})"
            if urlsplit(landed).path in LOGIN_PAGES and landed != url:
                assert status == 200, where  # redirected to a login form: nothing of the page was served
                continue
            if route.name in PUBLIC and status == 200:
                if route.name in ("healthz", "readyz"):
                    assert set(response.json()) <= PROBE_KEYS, (where, response.content[:300])
                continue
            if route.name == "webhook" and url.endswith("/no-such-source/"):
                assert status in (404, 405), (where, status)
                continue
            if route.name in CREDENTIALS_IN_REQUEST:
                # An empty body fails these before their credential check (415, 400): refused all the same.
                assert 400 <= status < 500, (where, status)
                continue
            assert status in (401, 403, 405), (where, status, response.content[:300])
            if route.namespace == "api" or route.name in ("api-schema", "webhook", "telemetry"):
                assert response["Content-Type"] == "application/problem+json", where


@pytest.mark.parametrize(
    ("path", "data", "content_type"),
    [
        *[(f"/webhooks/{source}/", json.dumps({"id": "evt-x"}), "application/json") for source in PUBLIC_SOURCES],
        ("/telemetry/", json.dumps({"beacons": []}), "application/json"),
        ("/o/token/", "grant_type=client_credentials", "application/x-www-form-urlencoded"),
        ("/o/revoke_token/", "token=not-a-token", "application/x-www-form-urlencoded"),
    ],
)
def test_a_well_formed_request_without_its_credentials_gets_401(path, data, content_type, world):
    """The endpoints that authenticate the request itself: a well-formed body is not enough."""
    response = Client().post(path, data, content_type=content_type, HTTP_ORIGIN="https://widget.example")
    assert response.status_code == 401, response.content
    assert WebhookReceipt.objects.filter(event_id="evt-x", outcome="applied").count() == 0


@pytest.mark.parametrize("where", ["path", "query"])
def test_a_nul_in_the_path_or_the_query_is_a_400_for_every_route(where, world, admin_user):
    """PostgreSQL text holds no NUL; a lookup with one must not reach the database (it was a 500)."""
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    answers = {}
    for route in ROUTES:
        if where == "path":
            if "<" not in route.route:
                continue
            url = route.url(**{name: "%00" for name in ("conversation_id", "object_id", "source", "id")})
        else:
            url = route.url(**world) + "?q=%00&state=%00"
        for method in ("get", "post"):
            answers[f"{method.upper()} {url}"] = getattr(client, method)(url).status_code
    assert len(answers) > 40
    assert {request: status for request, status in answers.items() if status >= 500} == {}
    refused = [status for request, status in answers.items() if "%00" in request.split("?")[0] or "?" in request]
    assert set(refused) <= {400, 405}, answers


def test_a_nul_in_a_written_note_or_reason_is_a_400(world, admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    finding = world["finding_id"]
    assert client.post(f"/findings/{finding}/resolve/", {"note": "a\x00b"}).status_code == 400  # was a 500
    dismiss = client.post(f"/api/v1/findings/{finding}/dismiss/", {"note": "a\x00b"}, content_type="application/json")
    assert dismiss.status_code == 400
    force_close = client.post(
        "/api/v1/conversations/c-1/force-close/",
        {"reason": "a\x00b"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY='"k-nul"',
    )
    assert force_close.status_code == 400
    assert client.get(f"/api/v1/findings/{finding}/").json()["status"] == "open"


def test_the_schema_documents_every_routed_api_operation(admin_user):
    out = StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    documented = {
        (path, method) for path, operations in json.loads(out.getvalue())["paths"].items() for method in operations
    }
    routed = {(route.openapi_path(), method) for route, method in api_operations()}
    assert routed - documented == set(), "API operations missing from the OpenAPI schema (schemathesis skips them)"
    assert len(routed) == len(api_operations()) >= 17


@pytest.fixture
def loaded_schema(world, api_client_token):
    """The served schema (loaded with a client's token), to be called without one."""
    from django.core.wsgi import get_wsgi_application

    headers = {"Authorization": api_client_token("admin")}
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), headers=headers)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


EXAMPLES_PER_OPERATION = 6


def test_every_documented_operation_answers_401_without_credentials(loaded_schema):
    """Valid and invalid generated requests, schema examples too, with no Authorization header:
    always 401 problem+json (a request whose generated path matches no route is a plain 404, one with
    a NUL character a 400)."""
    calls = []

    def check(case):
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("authorization", "cookie")}
        case.headers = headers
        response = case.call()
        calls.append(response.status_code)
        path = urlsplit(response.request.url).path
        try:
            resolve(path)
        except Resolver404:
            assert response.status_code == 404, (path, response.status_code)
            return
        if "%00" in response.request.url.lower():
            # Refused before authentication by console.middleware.RefuseNulMiddleware, or by the
            # authentication when the generated escape does not reach Django as a NUL (seen once in a
            # full CI run, not reproducible alone): either way a problem, nothing served.
            assert response.status_code in (400, 401), (path, response.status_code)
            assert response.headers["content-type"] == ["application/problem+json"]
            return
        assert response.status_code == 401, (case.method, path, response.status_code, response.text[:300])
        assert response.headers["content-type"] == ["application/problem+json"]
        assert response.headers["www-authenticate"][0].startswith("Bearer")

    operations, failures = check_every_operation(loaded_schema, check, EXAMPLES_PER_OPERATION)
    assert operations == len(api_operations())
    assert calls.count(401) >= operations, calls
    assert not failures, "\n\n".join(failures)


def test_api_routes_are_all_under_v1():
    """Anything served as JSON data lives under /api/v1/ and goes through the matrix; a stray API
    view elsewhere would escape it."""
    from rest_framework.views import APIView

    stray = [
        route.route
        for route in ROUTES
        if route.view_class
        and issubclass(route.view_class, APIView)
        and route.namespace != "api"
        and route.name not in ("api-schema", "api-docs")
    ]
    assert stray == []
    assert len(api_routes()) >= 17
