"""An admin force-closes a ghost session from the conversation page; supervisors never can."""

from __future__ import annotations

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from console.models import AuditEntry
from diagnostics.models import Finding
from tests.browser.conftest import log_in, screenshot
from tests.browser.test_console_pages import post_webhook
from tests.conversations.test_ordering_property import native_stream

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class PlatformStub(BaseHTTPRequestHandler):
    """The native platform API (simulator shape): POST /api/conversations/<id>/close."""

    answer = 200
    calls: list[str] = []

    def do_POST(self):  # http.server calls handlers by this name
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        PlatformStub.calls.append(self.path)
        body = json.dumps({"state": "closed"} if self.answer == 200 else {"error": "unavailable"}).encode()
        self.send_response(self.answer)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def platform():
    """A local platform API; the console under test is pointed at it through NATIVE_PLATFORM_URL."""
    PlatformStub.calls = []
    PlatformStub.answer = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), PlatformStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    previous = os.environ.get("NATIVE_PLATFORM_URL")
    os.environ["NATIVE_PLATFORM_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield PlatformStub
    finally:
        server.shutdown()
        if previous is None:
            os.environ.pop("NATIVE_PLATFORM_URL", None)
        else:
            os.environ["NATIVE_PLATFORM_URL"] = previous


def _ghost(base: str, conversation_id: str) -> None:
    for payload in native_stream(conversation_id, f"cust-{conversation_id}")[:4]:
        assert post_webhook(base, payload).status_code == 200
    now = timezone.now()
    Finding.objects.create(
        kind="ghost_session",
        severity="critical",
        subject=f"conversation:{conversation_id}",
        conversation_id=conversation_id,
        evidence={"variant": "socket_down_while_open"},
        remediation="Validate stored state against the server of record.",
        guide_section="Edge Case 1",
        first_seen=now,
        last_seen=now,
    )


def _open_dialog_and_submit(page, reason: str) -> None:
    page.click("button[data-open-dialog]")
    page.wait_for_selector("#force-close-dialog[open]")
    page.click("#force-close-submit")  # empty reason: the browser refuses the form, nothing is sent
    assert page.evaluate("document.getElementById('force-close-reason').validity.valueMissing")
    assert page.locator("#force-close-dialog[open]").count() == 1
    page.fill("#force-close-reason", reason)
    screenshot(page, "force-close-dialog")
    page.click("#force-close-submit")


def test_an_admin_force_closes_a_ghost_session_and_the_page_shows_it_closed(platform, live_asgi, page, admin_user):
    _ghost(live_asgi, "c-ghost")
    log_in(page, live_asgi, "ada-admin", "pw-admin-1")
    page.goto(f"{live_asgi}/conversations/c-ghost/")
    page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
    assert page.text_content("[data-testid=conversation-state]").strip() == "active"
    _open_dialog_and_submit(page, "ghost session: widget gone for an hour")
    page.wait_for_selector("#force-close-status.ok", timeout=10_000)
    assert "Closed" in page.text_content("#force-close-status")
    # Without reload: the header re-renders from the live push.
    # expect() polls without evaluating strings in the page (the CSP forbids eval, which wait_for_function uses).
    _expect()(page.locator("[data-testid=conversation-state]")).to_have_text("closed", timeout=10_000)
    screenshot(page, "conversation-force-closed")
    assert platform.calls == ["/api/conversations/c-ghost/close"]
    audit = AuditEntry.objects.get(action="conversation.force_closed", target_id="c-ghost")
    assert (audit.actor, audit.reason) == ("user:ada-admin", "ghost session: widget gone for an hour")
    assert Finding.objects.get(conversation_id="c-ghost", kind="ghost_session").status == "resolved"
    assert page.locator("button[data-open-dialog]").count() == 0  # closed: nothing left to close


def test_a_platform_failure_shows_the_pending_call(platform, live_asgi, page, admin_user):
    platform.answer = 503
    _ghost(live_asgi, "c-pending")
    log_in(page, live_asgi, "ada-admin", "pw-admin-1")
    page.goto(f"{live_asgi}/conversations/c-pending/")
    page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
    _open_dialog_and_submit(page, "ghost session")
    _expect()(page.locator("#force-close-status")).to_have_text(re.compile(r"^\s*Pending"), timeout=15_000)
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=force-close-pending]", timeout=10_000)
    assert page.text_content("[data-testid=conversation-state]").strip() == "active"
    screenshot(page, "conversation-force-close-pending")


def test_a_supervisor_has_no_force_close_button(live_asgi, page, supervisor):
    _ghost(live_asgi, "c-sup")
    log_in(page, live_asgi, "sam-supervisor", "pw-supervisor-1")
    page.goto(f"{live_asgi}/conversations/c-sup/")
    page.wait_for_selector("[data-testid=conversation-state]")
    assert page.locator("button[data-open-dialog]").count() == 0
    assert page.locator("#force-close-dialog").count() == 0


def _expect():
    """Playwright's expect, imported when used (as tests/browser/conftest.py imports Playwright)."""
    from playwright.sync_api import expect

    return expect
