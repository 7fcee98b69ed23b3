"""Cross-cutting request middleware."""

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
