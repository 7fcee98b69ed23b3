"""Every URL pattern of the project, read from the URL resolver (never a hand list).

A new view appears here as soon as it is routed, so the tests that walk these routes cover it
without anyone remembering to add a row; the tests that need a row per route (the permission
matrix) fail until someone writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern

# Methods that change or read something; OPTIONS and HEAD are answered by the framework.
METHODS = ("get", "post", "put", "patch", "delete")
_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    route: str  # "api/v1/conversations/<str:conversation_id>/" (regex routes as written)
    name: str  # namespaced: "api:conversation", "admin:auth_user_change", "" when unnamed
    callback: object

    @property
    def namespace(self) -> str:
        return self.name.split(":", 1)[0] if ":" in self.name else ""

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    def methods(self) -> tuple[str, ...]:
        """The methods a class-based view implements (all of them for a function view)."""
        view = self.view_class
        if view is None:
            return METHODS
        return tuple(method for method in METHODS if method in view.http_method_names and hasattr(view, method))

    def url(self, **values) -> str:
        """A concrete path; parameters from ``values`` by name, else a sample for their converter."""
        if self.name == "admin:app_list":
            return "/admin/auth/"
        if self.name == "admin:" and self.route.endswith("(?P<url>.*)$"):
            return "/admin/no-such-page/"

        def fill(match: re.Match) -> str:
            name, converter = match["name"], match["converter"] or "str"
            if name in values:
                return str(values[name])
            return {"int": "1", "path": "1", "slug": "a-slug", "uuid": "00000000-0000-0000-0000-000000000001"}.get(
                converter, "c-1"
            )

        return "/" + _PARAMETER.sub(fill, self.route)

    def openapi_path(self) -> str:
        """The path as drf-spectacular writes it: ``/api/v1/conversations/{conversation_id}/``."""
        return "/" + _PARAMETER.sub(lambda match: "{" + match["name"] + "}", self.route)


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + _text(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name or ''}" if namespace else (pattern.name or "")
            yield Route(prefix + _text(pattern.pattern), name, pattern.callback)


def _text(pattern) -> str:
    text = str(pattern)
    if isinstance(pattern, RegexPattern):
        return text.lstrip("^")
    return text


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def api_routes() -> list[Route]:
    return [route for route in all_routes() if route.namespace == "api"]


def api_operations() -> list[tuple[Route, str]]:
    """Every (route, method) of /api/v1/: what the permission matrix must have a row for."""
    return [(route, method) for route in api_routes() for method in route.methods()]
