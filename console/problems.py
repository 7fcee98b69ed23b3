"""RFC 9457 problem details: the one error shape of webhooks, telemetry and the API."""

from __future__ import annotations

import logging
from http import HTTPStatus

from django.http import HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"

log = logging.getLogger(__name__)


def problem_body(status: int, detail: str, *, title: str | None = None, **extra) -> dict:
    return {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }


class ProblemResponse(JsonResponse):
    def __init__(self, status: int, detail: str, *, title: str | None = None, headers=None, **extra):
        body = problem_body(status, detail, title=title, **extra)
        super().__init__(body, status=status, content_type=PROBLEM_CONTENT_TYPE, headers=headers)


def api_problem(status: int, detail: str, *, headers=None, **extra) -> Response:
    """A DRF response in problem+json (rendered by the view's JSON renderer)."""
    return Response(
        problem_body(status, detail, **extra), status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def field_errors(detail, prefix: str = "") -> list[dict]:
    """DRF's nested validation detail flattened to ``[{"field": "reason", "detail": "..."}]``."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            errors.extend(field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return errors
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [{"field": prefix or "non_field_errors", "detail": str(item)} for item in detail]
        errors = []
        for index, item in enumerate(detail):
            errors.extend(field_errors(item, f"{prefix}[{index}]" if prefix else f"[{index}]"))
        return errors
    return [{"field": prefix or "non_field_errors", "detail": str(detail)}]


def api_exception_handler(exc, context):
    """Every API error as problem+json: DRF's status and headers (WWW-Authenticate, Retry-After, Allow)."""
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API exception: log it with its traceback, answer without one.
        set_rollback()
        request = context.get("request")
        log.error("API error on %s", getattr(request, "path", "?"), exc_info=exc)
        return api_problem(500, "the server could not complete the request; it has been logged")
    status = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        errors = field_errors(exc.detail)
        summary = "; ".join(f"{error['field']}: {error['detail']}" for error in errors[:5])
        body = problem_body(status, f"invalid request: {summary}", errors=errors)
    else:
        detail = getattr(exc, "detail", None)
        if isinstance(detail, dict | list):
            errors = field_errors(detail)
            body = problem_body(status, "; ".join(error["detail"] for error in errors))
        else:
            body = problem_body(status, str(detail) if detail is not None else HTTPStatus(status).phrase)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _wants_problem(request) -> bool:
    return request.path.startswith(API_PREFIX)


def page_not_found(request, exception=None):
    if _wants_problem(request):
        return ProblemResponse(404, f"no API endpoint at {request.path[:200]}")
    return HttpResponse(
        "<!doctype html><title>Not found</title><h1>Not found</h1><p>There is no page at this address.</p>",
        status=404,
    )


def server_error(request):
    """No stack trace leaves the server; the request id ties the answer to the log line."""
    request_id = getattr(request, "request_id", "")
    if _wants_problem(request):
        return ProblemResponse(
            500, "the server could not complete the request; it has been logged", requestId=request_id
        )
    return HttpResponse(
        "<!doctype html><title>Server error</title><h1>Server error</h1>"
        f"<p>Something went wrong; it has been logged (request id {request_id}).</p>",
        status=500,
    )
