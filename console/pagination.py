"""Cursor pagination of every API list (``results``, ``next``, ``previous``): no OFFSET, no COUNT."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size_from(request, name: str = "limit") -> int:
    """``?limit=`` as an integer from 1 to MAX_PAGE_SIZE; anything else is a 400 naming the parameter."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: [f"must be an integer from 1 to {MAX_PAGE_SIZE}"]}) from None
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValidationError({name: [f"must be an integer from 1 to {MAX_PAGE_SIZE}"]})
    return value


class ListCursorPagination(CursorPagination):
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-id"

    def get_page_size(self, request):
        return page_size_from(request, self.page_size_query_param)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PAGE_SIZE,
                    "default": DEFAULT_PAGE_SIZE,
                }
        return parameters
