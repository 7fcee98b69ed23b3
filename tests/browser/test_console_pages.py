"""The console in a real browser against a real ASGI server: live updates, handoff history, roles."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from django.conf import settings

from conversations.ingest.native import sign
from tests.browser.conftest import log_in, screenshot
from tests.conversations.test_ordering_property import native_stream

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def post_webhook(base: str, payload: dict) -> httpx.Response:
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    secret = settings.CONSOLE_WEBHOOK_SECRETS[0]
    return httpx.post(
        f"{base}/webhooks/native/",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": payload["id"],
            "webhook-timestamp": timestamp,
            "webhook-signature": sign(secret, payload["id"], timestamp, body),
        },
        timeout=10,
    )


def test_supervisor_sees_the_dashboard_update_live_when_a_webhook_arrives(live_asgi, page, supervisor):
    log_in(page, live_asgi, "sam-supervisor", "pw-supervisor-1")
    page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
    assert page.locator("[data-testid=open-conversations]").text_content().strip() == "0"
    screenshot(page, "dashboard-empty")
    for payload in native_stream("c-browser", "cust-1")[:4]:
        assert post_webhook(live_asgi, payload).status_code == 200
    # No reload: the pushed health.update makes the fragment re-render.
    # expect() polls without evaluating strings in the page (the CSP forbids eval, which wait_for_function uses).
    _expect()(page.locator("[data-testid=open-conversations]")).to_have_text("1", timeout=10_000)
    screenshot(page, "dashboard")


def test_supervisor_opens_a_conversation_and_sees_its_handoff_history(live_asgi, page, supervisor):
    for payload in native_stream("c-handoff", "cust-2")[:12]:
        assert post_webhook(live_asgi, payload).status_code == 200
    log_in(page, live_asgi, "sam-supervisor", "pw-supervisor-1")
    page.click("text=Conversations")
    screenshot(page, "conversations")
    page.click("text=c-handoff")
    page.wait_for_selector("[data-testid=handoff]")
    handoff = page.locator("[data-testid=handoff]").first
    assert "4 keys lost" in handoff.text_content()
    lost_rows = handoff.locator("tr.lost")
    assert lost_rows.count() == 4
    assert "customAttributes.vip" in lost_rows.all_text_contents()[2] + lost_rows.all_text_contents()[3]
    assert page.locator("text=Force close").count() == 0  # supervisors have no force-close button
    page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
    # A message arriving while the page is open appears without reload.
    post_webhook(
        live_asgi,
        {
            "id": "late-msg",
            "type": "message.created",
            "conversationId": "c-handoff",
            "occurredAt": "2026-11-24T10:00:30Z",
            "sequence": 30,
            "data": {"messageId": "m-live", "direction": "inbound", "text": "still there?"},
        },
    )
    page.wait_for_selector("text=still there?", timeout=10_000)
    screenshot(page, "conversation")


def test_admin_sees_every_page(live_asgi, page, admin_user):
    for payload in native_stream("c-admin", "cust-3")[:6]:
        post_webhook(live_asgi, payload)
    log_in(page, live_asgi, "ada-admin", "pw-admin-1")
    for link, name in (("Findings", "findings"), ("Webhook receipts", "receipts"), ("Audit log", "audit")):
        page.click(f"nav >> text={link}")
        page.wait_for_load_state("networkidle")
        screenshot(page, name)
    assert page.locator("[data-testid=audit]").count() == 1


def test_login_page(live_asgi, page):
    page.goto(f"{live_asgi}/")
    page.wait_for_url(f"{live_asgi}/login/?next=/")
    page.fill("#id_username", "nobody")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "didn't match" in page.text_content("body")
    screenshot(page, "login")


def _expect():
    """Playwright's expect, imported when used (as tests/browser/conftest.py imports Playwright)."""
    from playwright.sync_api import expect

    return expect
