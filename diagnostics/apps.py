from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    name = "diagnostics"
    verbose_name = "Diagnostics (telemetry and findings)"

    def ready(self):
        # Register the Celery tasks in every process (web and worker): other apps enqueue them by
        # name ("diagnostics.tasks.run_detectors"), and Celery autodiscovery runs only in workers.
        from diagnostics import tasks  # noqa: F401
