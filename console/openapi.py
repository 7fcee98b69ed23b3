"""OpenAPI additions: the problem+json error responses every operation can give, and auth schemes."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PROBLEM = "application/problem+json"

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Not Found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string", "example": "conversation 'c-42' is not in the mirror"},
        "errors": {
            "type": "array",
            "description": "Validation errors, one per field",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "detail": {"type": "string"}},
                "required": ["field", "detail"],
            },
        },
        "requestId": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    "400": "Invalid request: the problem lists the fields",
    "401": "No or invalid credentials (WWW-Authenticate says how to authenticate)",
    "403": "Authenticated, but the role or token scope does not allow this",
    "404": "Not found",
    "405": "Method not allowed",
    "406": "Only application/json responses are offered",
    "409": "Conflict",
    "415": "The body must be application/json",
    "422": "Unprocessable",
    "500": "Server error",
    "429": "Too many requests (Retry-After says when to retry)",
}
_HEADERS = {
    "401": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge"}},
    "429": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}


def _problem_response(code: str, description: str | None = None) -> dict:
    response = {
        "description": description or _DESCRIPTIONS[code],
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if code in _HEADERS:
        response["headers"] = _HEADERS[code]
    return response


def add_problem_responses(result, generator, request, public):
    """Every API operation may answer 400, 401, 403, 404, 405, 406 and 429 as problem+json.

    Responses an operation documents itself (409/422 of force-close) are kept; bodies of
    documented error codes are switched to the Problem schema.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = ["400", "401", "403", "404", "405", "406", "429"]
            if method in {"post", "put", "patch"}:
                codes.append("415")
            for code in codes:
                responses.setdefault(code, _problem_response(code))
            for code, response in list(responses.items()):
                if code.startswith(("4", "5")) and "content" not in response:
                    problem = _problem_response(code, response.get("description") or _DESCRIPTIONS.get(code))
                    responses[code] = {
                        **problem,
                        "headers": {**problem.get("headers", {}), **response.get("headers", {})},
                    }
                    if not responses[code]["headers"]:
                        del responses[code]["headers"]
    return result


class ConsoleOAuth2Scheme(OpenApiAuthenticationExtension):
    """Client-credentials tokens from /o/token/; each operation lists the scope it needs."""

    target_class = "console.permissions.ClientCredentialsAuthentication"
    name = "oauth2"
    priority = 1

    def get_security_requirement(self, auto_schema):
        from console.permissions import ADMIN, required_scope

        scope = _scope_of(auto_schema, required_scope)
        if scope is None:
            return {self.name: [ADMIN]}
        if scope == ADMIN:
            return {self.name: [ADMIN]}
        return [{self.name: [scope]}, {self.name: [ADMIN]}]

    def get_security_definition(self, auto_schema):
        from django.conf import settings

        return {
            "type": "oauth2",
            "description": "Client credentials: `manage.py create_api_client NAME --scope read` prints them.",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": settings.OAUTH2_PROVIDER["SCOPES"]}},
        }


class _MethodRequest:
    def __init__(self, method):
        self.method = method


def _scope_of(auto_schema, required_scope):
    return required_scope(_MethodRequest(auto_schema.method), auto_schema.view)
