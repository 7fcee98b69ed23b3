"""The real URLs plus views that fail, to see what a failure looks like from outside."""

from django.urls import path
from rest_framework.views import APIView

from console.urls import handler404, handler500  # noqa: F401
from console.urls import urlpatterns as console_urlpatterns


def page_that_fails(request):
    raise RuntimeError("secret detail from a page")


class ApiThatFails(APIView):
    required_scope = "read"

    def get(self, request):
        raise RuntimeError("secret detail from the API")


class ApiWithoutScope(APIView):
    def get(self, request):
        return None


urlpatterns = [
    path("boom/", page_that_fails),
    path("api/v1/boom/", ApiThatFails.as_view()),
    path("api/v1/unguarded/", ApiWithoutScope.as_view()),
    *console_urlpatterns,
]
