"""Secrets never reach the logs (issue 10, item 13).

Every log record the most verbose configuration (LOG_LEVEL=DEBUG) emits, with tracebacks, is captured
while webhooks fail their signatures, telemetry keys and API tokens are wrong, and platform APIs fail;
no webhook secret, SECRET_KEY, OAuth client secret, access token, Authorization header value or
deployment key appears in it, nor in the answers.
"""

from __future__ import annotations

import base64
import json
import logging
from base64 import b64encode

import httpx
import pytest
import respx
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from console.actions import create_api_client
from conversations import actions as conversation_actions
from conversations.platforms.base import TOKENS, PlatformError
from conversations.platforms.cxone import CxoneClient
from conversations.platforms.genesys import GenesysClient
from conversations.platforms.native import NativeClient
from diagnostics.actions import create_deployment
from tests.security.deliveries import encode, post, signed_headers, valid_payloads

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.com"


class Everything(logging.Handler):
    """Keeps every record, formatted with its traceback."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))
        if record.args:  # the raw arguments too, in case a formatter elsewhere prints them differently
            self.lines.append(repr(record.args))


@pytest.fixture
def logs():
    """Everything the most verbose configuration (LOG_LEVEL=DEBUG) would write, into one handler.

    The root goes to DEBUG as LOG_LEVEL=DEBUG makes it; the floors settings.LOGGING pins on some
    loggers stay, since they are part of what keeps secrets out (oauthlib logs issued tokens at DEBUG).
    """
    handler = Everything()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def variants(secret: str) -> set[str]:
    """A secret and the encodings it may travel in."""
    found = {secret, b64encode(secret.encode()).decode()}
    if secret.startswith("whsec_"):
        raw = secret.removeprefix("whsec_")
        found |= {raw, base64.b64decode(raw).decode("latin-1")}
    return {value for value in found if len(value) >= 8}


def configured_secrets() -> set[str]:
    found = variants(settings.SECRET_KEY)
    for secret in settings.CONSOLE_WEBHOOK_SECRETS:
        found |= variants(secret)
    return found | variants(settings.GENESYS_WEBHOOK_SECRET) | variants(settings.CXONE_WEBHOOK_TOKEN)


def assert_absent(secrets: set[str], *texts: str) -> None:
    haystack = "\n".join(texts)
    leaked = sorted(secret for secret in secrets if secret in haystack)
    assert not leaked, f"secrets in the output: {leaked}"


def test_failing_webhook_signatures_and_apply_errors_log_no_secret(client, logs, monkeypatch):
    answers = []
    body = encode(valid_payloads("native")[0])
    good = signed_headers("native", body, msg_id="e-start")
    # Wrong body for a good signature, an expired timestamp, a stranger's signature.
    answers.append(post(client, "native", body + b" ", good))
    answers.append(post(client, "native", body, signed_headers("native", body, msg_id="e-start", timestamp=1)))
    answers.append(post(client, "native", body, {**good, "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"}))
    genesys_body = encode(valid_payloads("genesys")[0])
    answers.append(post(client, "genesys", genesys_body, {"HTTP_X_HUB_SIGNATURE_256": "sha256=AAAA"}))
    answers.append(post(client, "genesys", genesys_body + b" ", signed_headers("genesys", genesys_body)))
    cxone_body = encode(valid_payloads("cxone")[0])
    answers.append(post(client, "cxone", cxone_body, {"HTTP_AUTHORIZATION": "Bearer wrong-token-value"}))
    # The right token with a malformed body (400), then one whose apply raises (503, logged with a traceback).
    answers.append(post(client, "cxone", b'{"eventId": 1}', {"HTTP_X_CXONE_TOKEN": settings.CXONE_WEBHOOK_TOKEN}))

    def explode(*args, **kwargs):
        raise RuntimeError("the mirror is broken")

    monkeypatch.setattr(conversation_actions, "apply_events", explode)
    answers.append(post(client, "cxone", cxone_body, signed_headers("cxone", cxone_body)))
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401, 401, 401, 400, 503]
    assert any("Traceback" in line for line in logs.lines)
    assert_absent(configured_secrets(), *logs.lines, *(answer.content.decode() for answer in answers))


@override_settings(TELEMETRY_RATE_LIMIT_PER_MINUTE=2)
def test_telemetry_refusals_log_no_deployment_key(client, logs):
    cache.clear()
    deployment = create_deployment(name="acme", origins=[ORIGIN], actor="system:test")
    body = json.dumps({"beacons": [{"id": "b", "kind": "nonsense"}]}).encode()
    answers = [
        client.post(
            "/telemetry/",
            data=body,
            content_type="application/json",
            HTTP_X_DEPLOYMENT_KEY=deployment.key,
            HTTP_ORIGIN=origin,
        )
        for origin in ("https://evil.example.net", ORIGIN, ORIGIN, ORIGIN)
    ]
    answers.append(client.post("/telemetry/", data=b"{", content_type="application/json", HTTP_ORIGIN=ORIGIN))
    assert [answer.status_code for answer in answers] == [403, 202, 202, 429, 401]
    assert_absent(
        variants(deployment.key) | configured_secrets(),
        *logs.lines,
        *(answer.content.decode() for answer in answers),
    )
    cache.clear()


def test_oauth_and_api_failures_log_no_client_secret_or_token(client, logs):
    created = create_api_client("reader", ["read"])
    basic = b64encode(f"{created.client_id}:{created.client_secret}".encode()).decode()
    wrong = b64encode(f"{created.client_id}:not-the-secret".encode()).decode()
    answers = [
        client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {wrong}"),
        client.post(
            "/o/token/",
            {"grant_type": "password", "username": "x", "password": "y"},
            HTTP_AUTHORIZATION=f"Basic {basic}",
        ),
        client.post(
            "/o/token/",
            {
                "grant_type": "client_credentials",
                "client_id": created.client_id,
                "client_secret": created.client_secret,
            },
        ),
    ]
    issued = client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert issued.status_code == 200
    token = issued.json()["access_token"]
    answers += [
        client.get("/api/v1/audit/", HTTP_AUTHORIZATION=f"Bearer {token}"),  # 403: read scope only
        client.post(
            "/api/v1/conversations/c-1/force-close/",
            {"reason": "x"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        ),
        client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {token}x"),  # 401
        client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Basic {basic}"),  # 401: not a bearer
    ]
    assert [answer.status_code for answer in answers] == [401, 400, 200, 403, 403, 401, 401]
    secrets = variants(created.client_secret) | variants(token) | {basic} | configured_secrets()
    assert_absent(secrets, *logs.lines, *(answer.content.decode() for answer in answers[:2] + answers[3:]))


# --- platform clients --------------------------------------------------------------------------------

CLIENT_SECRET = "platform-client-secret-7f3a9c"
ACCESS_TOKEN = "platform-access-token-91be0d"
NATIVE_TOKEN = "native-platform-token-55c2e1"


def _echo(request: httpx.Request) -> httpx.Response:
    """A platform that repeats the credentials it refuses (some do, in their error messages)."""
    authorization = request.headers.get("Authorization", "")
    return httpx.Response(503, json={"message": f"refused {authorization}; expected something else"})


def _refuse_token(request: httpx.Request) -> httpx.Response:
    authorization = request.headers.get("Authorization", "")
    decoded = base64.b64decode(authorization.partition(" ")[2]).decode()
    return httpx.Response(401, json={"error_description": f"bad client {decoded} ({authorization})"})


@respx.mock
@pytest.mark.parametrize("platform", ["genesys", "cxone", "native"])
def test_platform_errors_log_no_client_secret_or_token(logs, platform):
    TOKENS.clear()
    if platform == "genesys":
        respx.post("https://login.example.test/oauth/token").respond(200, json={"access_token": ACCESS_TOKEN})
        respx.route(host="api.example.test").mock(side_effect=_echo)
        make = lambda: GenesysClient(  # noqa: E731
            api_base="https://api.example.test",
            login_base="https://login.example.test",
            client_id="genesys-client",
            client_secret=CLIENT_SECRET,
            sleep=lambda seconds: None,
        )
    elif platform == "cxone":
        respx.post("https://auth.example.test/token").respond(200, json={"access_token": ACCESS_TOKEN})
        respx.route(host="api.example.test").mock(side_effect=_echo)
        make = lambda: CxoneClient(  # noqa: E731
            api_base="https://api.example.test",
            token_url="https://auth.example.test/token",
            client_id="cxone-client",
            client_secret=CLIENT_SECRET,
            sleep=lambda seconds: None,
        )
    else:
        respx.route(host="api.example.test").mock(side_effect=_echo)
        make = lambda: NativeClient(base_url="https://api.example.test", token=NATIVE_TOKEN, sleep=lambda s: None)  # noqa: E731
    errors = []
    with make() as platform_client:
        for call in (
            lambda: platform_client.get_conversation("c-1"),
            lambda: platform_client.close_conversation("c-1", "ghost"),
            platform_client.list_active,
        ):
            with pytest.raises(PlatformError) as raised:
                call()
            errors.append(str(raised.value))
    assert any("[redacted]" in error for error in errors), errors
    if platform != "native":  # the token endpoint itself refuses, echoing the Basic credentials
        TOKENS.clear()
        respx.routes.clear()
        respx.route().mock(side_effect=_refuse_token)
        with make() as platform_client, pytest.raises(PlatformError) as raised:
            platform_client.get_conversation("c-1")
        errors.append(str(raised.value))
        assert "bad client" in errors[-1] and "[redacted]" in errors[-1]
    TOKENS.clear()
    assert any("retrying" in line for line in logs.lines)
    secrets = variants(CLIENT_SECRET) | variants(ACCESS_TOKEN) | variants(NATIVE_TOKEN)
    secrets |= {b64encode(f"{name}:{CLIENT_SECRET}".encode()).decode() for name in ("genesys-client", "cxone-client")}
    assert_absent(secrets, *logs.lines, *errors)


def _crash_report(request) -> list[str]:
    """The report of a crash while serving ``request`` (a frame whose locals hold no secret)."""
    import sys

    from django.views.debug import ExceptionReporter

    try:
        raise RuntimeError("a view crashed")
    except RuntimeError:
        report = ExceptionReporter(request, *sys.exc_info(), is_email=True)
        return [report.get_traceback_text(), report.get_traceback_html()]


def test_an_error_report_of_a_request_with_credentials_shows_none_of_them(rf):
    """What the admins' e-mail (Django's AdminEmailHandler) would say about a crash in any view."""
    request = rf.post(
        "/o/token/",
        {
            "grant_type": "client_credentials",
            "client_id": "cid",
            "client_secret": "client-secret-value-0042",
            "password": "password-value-0042",
        },
        HTTP_AUTHORIZATION="Basic QmFzaWMtY3JlZGVudGlhbHM=",
        HTTP_X_DEPLOYMENT_KEY="wd_deployment-key-value",
        HTTP_WEBHOOK_SIGNATURE="v1,c2lnbmF0dXJl",
        HTTP_X_HUB_SIGNATURE_256="sha256=aGFzaC12YWx1ZQ==",
        HTTP_X_CXONE_TOKEN="cxone-token-value-0042",
    )
    texts = _crash_report(request)
    assert "client_id" in texts[0] and "grant_type" in texts[0]  # the report still shows the request
    secrets = {"client-secret-value-0042", "QmFzaWMtY3JlZGVudGlhbHM=", "wd_deployment-key-value", "v1,c2lnbmF0dXJl"}
    secrets |= {"cxone-token-value-0042", "sha256=aGFzaC12YWx1ZQ==", "password-value-0042"}
    assert_absent(secrets | configured_secrets(), *texts)
