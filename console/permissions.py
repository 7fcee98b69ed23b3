"""Who may call which API endpoint: roles for browser users, scopes for OAuth2 clients.

Every view names the scope it needs (``required_scope``, or ``required_scopes`` per HTTP
method). A view that names none is closed to everyone: the default is deny.

| scope         | users (groups)            | API clients (token scope)  |
|---------------|---------------------------|----------------------------|
| read          | supervisors, admins       | read or admin              |
| findings      | supervisors, admins       | findings or admin          |
| force-close   | admins                    | force-close or admin       |
| admin         | admins                    | admin                      |

The ``admin`` scope is to clients what the admins group is to users: everything.
"""

from __future__ import annotations

from django.conf import settings
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import AccessToken
from rest_framework.permissions import BasePermission
from rest_framework.throttling import BaseThrottle

from console import ratelimit, roles

READ = "read"
FINDINGS = "findings"
FORCE_CLOSE = "force-close"
ADMIN = "admin"
SCOPES = (READ, FINDINGS, FORCE_CLOSE, ADMIN)

_USER_RULE = {
    READ: roles.is_supervisor,
    FINDINGS: roles.is_supervisor,
    FORCE_CLOSE: roles.is_admin,
    ADMIN: roles.is_admin,
}
_ROLE_NAME = {READ: "supervisors", FINDINGS: "supervisors", FORCE_CLOSE: "admins", ADMIN: "admins"}


class ClientCredentialsAuthentication(OAuth2Authentication):
    """Bearer tokens from ``/o/token/``; a client-credentials token has no user, so it gets AnonymousUser.

    Only the ``Authorization: Bearer`` header is read (RFC 6750 §2.1): a token in the query string
    ends up in logs, and one in a form body would make every request's body parsed here.
    """

    def authenticate(self, request):
        scheme = request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0]
        if scheme.lower() != "bearer":
            return None
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        if user is None:
            from django.contrib.auth.models import AnonymousUser

            user = AnonymousUser()
        return user, token


def client_token(request) -> AccessToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, AccessToken) else None


def actor_of(request) -> str:
    """The audit actor (INTERFACES.md): ``client:<client_id>`` or ``user:<username>``."""
    token = client_token(request)
    if token is not None:
        return f"client:{token.application.client_id}"
    return f"user:{request.user.get_username()}"


def actor_user_of(request):
    return None if client_token(request) is not None else request.user


def required_scope(request, view) -> str | None:
    per_method = getattr(view, "required_scopes", None)
    if per_method is not None:
        method = "GET" if request.method == "HEAD" else request.method
        return per_method.get(method)
    return getattr(view, "required_scope", None)


def grants(request, scope: str) -> bool:
    token = client_token(request)
    if token is not None:
        granted = set((token.scope or "").split())
        return scope in granted or ADMIN in granted
    return _USER_RULE[scope](request.user)


class HasConsoleScope(BasePermission):
    """Deny by default; allow when the user's role or the token's scopes cover the view's scope."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view):
        scope = required_scope(request, view)
        if scope is None:
            return False
        if grants(request, scope):
            return True
        if client_token(request) is not None:
            self.message = f"this needs a token with the {scope!r} scope"
        else:
            self.message = f"this needs a member of the {_ROLE_NAME[scope]} group"
        return False


class CanReadSchema(BasePermission):
    """The OpenAPI schema: any console user (supervisor, admin) or any API client."""

    def has_permission(self, request, view):
        return client_token(request) is not None or roles.is_supervisor(request.user)


class PerClientThrottle(BaseThrottle):
    """Fixed-window limit per API client or user (API_RATE_LIMIT_PER_MINUTE); 429 with Retry-After."""

    def allow_request(self, request, view):
        token = client_token(request)
        if token is not None:
            identity = f"client:{token.application.client_id}"
        elif request.user.is_authenticated:
            identity = f"user:{request.user.pk}"
        else:
            identity = f"ip:{request.META.get('REMOTE_ADDR', '-')}"
        self._wait = ratelimit.check("api", identity, settings.API_RATE_LIMIT_PER_MINUTE)
        return self._wait is None

    def wait(self):
        return self._wait
