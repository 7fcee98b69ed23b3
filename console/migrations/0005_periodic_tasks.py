"""The periodic tasks of console.celery.PERIODIC_TASKS, as django-celery-beat entries operators can edit."""

from django.db import migrations
from django.utils import timezone

# A frozen copy of console.celery.PERIODIC_TASKS (migrations must not import code that changes).
PERIODIC_TASKS = {
    "diagnostics.tasks.validate_liveness": 30,
    "conversations.tasks.expire_stale_sessions": 60,
    "conversations.tasks.force_close_retry": 30,
    "conversations.tasks.reconcile_with_platform": 5 * 60,
    "diagnostics.tasks.run_detectors": 5 * 60,
    "console.tasks.flush_deferred_jobs": 15,
    "console.tasks.purge_old_records": 24 * 60 * 60,
}


def add_periodic_tasks(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for task, seconds in PERIODIC_TASKS.items():
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        # An entry an operator already has (same name) is left as it is.
        PeriodicTask.objects.get_or_create(
            name=task, defaults={"task": task, "interval": interval, "kwargs": "{}", "args": "[]"}
        )
    # Tell a running beat that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_periodic_tasks(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=list(PERIODIC_TASKS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_deferred_job"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_periodic_tasks, remove_periodic_tasks)]
