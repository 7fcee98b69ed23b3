"""The Content-Security-Policy holds in a real browser: no page of the console, the admin or the API
docs triggers a violation, and the live updates still arrive over the socket (issue 10, item 13).
"""

from __future__ import annotations

import pytest
from django_celery_beat.models import CrontabSchedule

from tests.browser.conftest import live_asgi, log_in, page, screenshot  # noqa: F401 - fixtures
from tests.browser.test_console_pages import post_webhook
from tests.conversations.test_ordering_property import native_stream

# The policy does not depend on the database: run once, on the PostgreSQL pass (production shape, Redis
# channel layer), to keep the SQLite pass short.
pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Registered before any page script runs: every violation the browser reports is kept.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _expect():
    from playwright.sync_api import expect  # imported when used, as tests/browser/conftest.py does

    return expect


def violations(tab) -> list[str]:
    return tab.evaluate("window.__csp")


def visit(tab, url: str, ready: str) -> list[str]:
    tab.goto(url)
    tab.wait_for_selector(ready, timeout=15_000)
    return [f"{url}: {violation}" for violation in violations(tab)]


def test_no_page_violates_the_policy_and_live_updates_still_arrive(live_asgi, page, admin_user):  # noqa: F811
    page.add_init_script(RECORD_VIOLATIONS)
    for payload in native_stream("c-csp", "cust-csp")[:12]:
        assert post_webhook(live_asgi, payload).status_code == 200
    log_in(page, live_asgi, "ada-admin", "pw-admin-1")
    found = violations(page)
    page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)  # the socket connected
    found += violations(page)
    # A live update re-renders the dashboard fragment (htmx swap) without a violation.
    before = page.locator("[data-testid=open-conversations]").text_content().strip()
    for payload in native_stream("c-csp-2", "cust-csp-2")[:4]:
        assert post_webhook(live_asgi, payload).status_code == 200
    # expect() polls without evaluating strings in the page: wait_for_function would need 'unsafe-eval'.
    _expect()(page.locator("[data-testid=open-conversations]")).not_to_have_text(before, timeout=10_000)
    found += violations(page)
    screenshot(page, "csp-dashboard")
    found += visit(page, f"{live_asgi}/conversations/c-csp/", "[data-testid=handoff]")
    page.wait_for_selector("#live-status[data-state=live]", timeout=10_000)
    screenshot(page, "csp-conversation")
    found += visit(page, f"{live_asgi}/conversations/", "text=c-csp")
    found += visit(page, f"{live_asgi}/findings/", "main")
    found += visit(page, f"{live_asgi}/receipts/", "main")
    found += visit(page, f"{live_asgi}/audit/", "main")
    found += visit(page, f"{live_asgi}/admin/", "#content")
    found += visit(page, f"{live_asgi}/admin/conversations/conversation/", "#changelist")
    found += visit(page, f"{live_asgi}/admin/conversations/conversation/c-csp/change/", "#content")
    found += visit(page, f"{live_asgi}/admin/diagnostics/widgetdeployment/add/", "#content")
    found += visit(page, f"{live_asgi}/admin/django_celery_beat/periodictask/", "#changelist")
    crontab = CrontabSchedule.objects.create(minute="5", hour="4")
    found += visit(page, f"{live_asgi}/admin/django_celery_beat/periodictask/add/", "#id_crontab")
    page.select_option("#id_crontab", str(crontab.pk))  # the help moved to static/ still translates it
    _expect()(page.locator(".field-crontab .help")).to_contain_text("Translation:")
    assert "04:05" in page.locator(".field-crontab .help").text_content()
    found += visit(page, f"{live_asgi}/api/docs/", ".opblock")
    page.locator(".opblock-summary").first.click()  # an operation opened: parameters, responses, models
    page.wait_for_selector(".opblock-body", timeout=10_000)
    found += [f"/api/docs/ (opened): {violation}" for violation in violations(page)]
    screenshot(page, "csp-api-docs")
    assert not found, "\n".join(found)
