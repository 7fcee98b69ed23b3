"""Cross-cutting request middleware: request ids, and the Content-Security-Policy of every response."""

import re
import uuid

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Give every request an id (the proxy's X-Request-ID when it is sane) for logs and audit rows."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def _policy(**overrides: str) -> str:
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        # 'self' covers ws:/wss: to the same host (CSP Level 3): the live pages' sockets.
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        **overrides,
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


# One policy for every response: console pages, Django admin, Swagger UI, API, webhooks, telemetry and
# static files. No inline script or style anywhere: htmx and uPlot are vendored under static/ (htmx's own
# indicator styles are switched off in templates/console/base.html), Swagger UI's initialiser is served as
# a script file (console.api.DocsView) and django-celery-beat's inline script moved to static/ (see
# docs/architecture.md, "Security headers"). Scripts that set styles through the CSSOM (uPlot, jQuery,
# React in Swagger UI) are not affected by style-src.
CONTENT_SECURITY_POLICY = _policy()


class ContentSecurityPolicyMiddleware:
    """Set Content-Security-Policy on every response (static files included) unless a view set its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class RefuseNulMiddleware:
    """400 for a NUL character (``%00``) in the path or the query string, before any view runs.

    PostgreSQL text cannot hold NUL: a lookup with one raises in the database driver, which every
    view would otherwise answer with a 500. No identifier or filter of the console contains one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            from console.problems import ProblemResponse

            return ProblemResponse(400, "the path or query string contains a NUL character (%00)")
        return self.get_response(request)
