"""Security headers on every kind of response (issue 10, item 13): Content-Security-Policy without
'unsafe-inline', frame-ancestors 'none' and X-Frame-Options DENY, nosniff, and HSTS over TLS only.

tests/security/test_csp_browser.py checks in Chromium that the pages need nothing more.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.webhooks import post_native

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


def assert_locked_down(response, *, framed_by_django: bool = True) -> None:
    policy = directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    if framed_by_django:
        assert response["X-Frame-Options"] == "DENY"


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_pages_admin_and_docs_carry_the_strict_policy(admin_client):
    for url, status in [
        ("/", 200),
        ("/conversations/", 200),
        ("/findings/", 200),
        ("/receipts/", 200),
        ("/audit/", 200),
        ("/live/dashboard/", 200),
        ("/admin/", 200),
        ("/admin/conversations/conversation/", 200),
        ("/admin/django_celery_beat/periodictask/add/", 200),
        ("/api/docs/", 200),
        ("/api/docs/?script", 200),
        ("/api/v1/conversations/", 200),
        ("/api/schema/", 200),
        ("/no-such-page/", 404),
        ("/api/v1/no-such-endpoint/", 404),
    ]:
        response = admin_client.get(url)
        assert response.status_code == status, url
        assert_locked_down(response)


def test_the_swagger_ui_initialiser_is_a_script_file_not_inline(admin_client):
    page = admin_client.get("/api/docs/").content.decode()
    assert re.search(r'<script src="[^"]*\?script', page)
    assert not re.search(r"<script>|<style", page)
    script = admin_client.get("/api/docs/?script")
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def test_anonymous_answers_webhooks_telemetry_and_static_files_carry_it_too(client):
    assert_locked_down(client.get("/login/"))
    assert_locked_down(client.get("/healthz"))
    assert_locked_down(client.get("/api/v1/conversations/"))  # 401
    assert_locked_down(post_native(client, {"id": "x"}, secret="whsec_" + "QUJD" * 8))  # 401
    assert_locked_down(client.post("/telemetry/", data=b"{}", content_type="application/json"))  # 401
    static = client.get("/static/console/favicon.svg")
    assert static.status_code == 200
    # An SVG opened on its own is a document: the policy forbids its scripts and framing.
    assert_locked_down(static, framed_by_django=False)


@override_settings(
    SECURE_HSTS_SECONDS=31_536_000,
    SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
    SECURE_HSTS_PRELOAD=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)
def test_hsts_is_sent_over_tls_only(client):
    over_tls = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert over_tls["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "Strict-Transport-Security" not in client.get("/login/")
    webhook = client.post(
        "/webhooks/native/", data=b"{}", content_type="application/json", HTTP_X_FORWARDED_PROTO="https"
    )
    assert webhook.status_code == 401
    assert "Strict-Transport-Security" in webhook


def test_no_hsts_without_its_setting_even_over_tls(client):
    assert "Strict-Transport-Security" not in client.get("/login/", secure=True)


def _template_files():
    for directory in TEMPLATE_DIRS:
        yield from directory.rglob("*.html")


def test_templates_hold_no_inline_script_style_or_handler():
    """What the policy would block, caught before a browser does: inline code must live in static/."""
    offenders = []
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
    for path in _template_files():
        text = path.read_text()
        for pattern in (inline_script, re.compile(r"<style\b", re.I), re.compile(r"\sstyle=", re.I)):
            offenders += [f"{path.relative_to(ROOT)}: {match.group(0)}" for match in pattern.finditer(text)]
        offenders += [
            f"{path.relative_to(ROOT)}: {match.group(0)}"
            for match in re.finditer(r"\son[a-z]+=\"", text)
            if "{%" not in match.group(0)
        ]
    assert list(_template_files()), "no templates found"
    assert not offenders, offenders


def test_console_scripts_need_no_eval():
    for path in (ROOT / "static" / "console").glob("*.js"):
        text = path.read_text()
        assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*['\"]", text), path
