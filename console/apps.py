from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self):
        # Registers the OpenAPI extension of the API's OAuth2 authentication.
        from console import openapi  # noqa: F401
