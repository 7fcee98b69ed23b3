from django.conf import settings
from django.urls import path

from bench.baseline import views

urlpatterns = [
    path("webhooks/native/", views.RECEIVERS[settings.BASELINE]),
    path("healthz", views.healthz),
]
