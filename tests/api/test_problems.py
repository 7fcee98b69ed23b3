"""Errors: application/problem+json across the API, no stack trace anywhere, 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import make_conversation

pytestmark = pytest.mark.django_db


def _problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_it_answers_method_media_type_and_accept_errors_as_problems(client, admin_user):
    client.force_login(admin_user)
    make_conversation("c-1")
    response = client.delete("/api/v1/conversations/c-1/")
    _problem(response, 405)
    assert "GET" in response["Allow"]
    _problem(
        client.post(
            "/api/v1/conversations/c-1/force-close/", "reason=x", content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k"
        ),
        415,
    )
    _problem(client.get("/api/v1/conversations/", HTTP_ACCEPT="text/html"), 406)
    body = _problem(
        client.post(
            "/api/v1/conversations/c-1/force-close/",
            "{broken",
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k",
        ),
        400,
    )
    assert "JSON" in body["detail"]
    _problem(client.get("/api/v1/no-such-endpoint/"), 404)


def test_it_limits_requests_per_client_with_retry_after(settings, api_client_token):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    make_conversation("c-1")
    busy, calm = api_client_token("read"), api_client_token("read")
    client = Client()
    for _ in range(3):
        assert client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=busy).status_code == 200
    limited = client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=busy)
    _problem(limited, 429)
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=calm).status_code == 200


@pytest.mark.urls("tests.api.urls_with_errors")
def test_a_crash_leaks_no_stack_trace(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    api = client.get("/api/v1/boom/")
    body = _problem(api, 500)
    assert "secret" not in api.content.decode() and "Traceback" not in api.content.decode()
    assert body["detail"]
    page = client.get("/boom/")
    assert page.status_code == 500
    assert "secret" not in page.content.decode() and "Traceback" not in page.content.decode()
    assert page["X-Request-ID"] in page.content.decode()


@pytest.mark.urls("tests.api.urls_with_errors")
def test_a_view_that_names_no_scope_is_closed_to_everyone(admin_user, api_client_token):
    client = Client()
    client.force_login(admin_user)
    _problem(client.get("/api/v1/unguarded/"), 403)
    _problem(Client().get("/api/v1/unguarded/", HTTP_AUTHORIZATION=api_client_token("admin")), 403)


def test_a_page_that_does_not_exist_is_plain_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
