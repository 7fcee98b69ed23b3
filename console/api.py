"""REST API of cross-cutting records: the audit log (admin), and the OpenAPI schema and docs."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import generics

from console import roles
from console.filters import AuditEntryFilter
from console.models import AuditEntry
from console.pagination import ListCursorPagination
from console.permissions import ADMIN
from console.serializers import AuditEntrySerializer


class AuditPagination(ListCursorPagination):
    ordering = ("-at", "-id")


@extend_schema(tags=["admin"], summary="Audit log, newest first (admin)")
class AuditList(generics.ListAPIView):
    required_scope = ADMIN
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    pagination_class = AuditPagination
    queryset = AuditEntry.objects.all()


@extend_schema(exclude=True)
class SchemaView(SpectacularAPIView):
    """``/api/schema/``: for console users and API clients only (401/403 otherwise)."""


@extend_schema(exclude=True)
class DocsView(SpectacularSwaggerSplitView):
    """``/api/docs/``: Swagger UI from local static files; a browser without a session goes to the login page.

    The split view serves its initialiser as ``/api/docs/?script`` instead of an inline script, and the
    template has no inline style, so the page needs no 'unsafe-inline' for scripts (console/middleware.py).
    """

    template_name = "console/swagger_ui.html"

    permission_classes = []

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not roles.is_supervisor(request.user):
            self.permission_denied(request, message="the API docs are for supervisors and admins")
        return super().get(request, *args, **kwargs)
