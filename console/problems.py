"""RFC 9457 problem details: the one error shape of webhooks, telemetry and the API."""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemResponse(JsonResponse):
    def __init__(self, status: int, detail: str, *, title: str | None = None, headers=None, **extra):
        body = {
            "type": "about:blank",
            "title": title or HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            **extra,
        }
        super().__init__(body, status=status, content_type=PROBLEM_CONTENT_TYPE, headers=headers)
