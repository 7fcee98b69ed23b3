"""The socket-health sampling task (the dashboard's chart) as a beat entry operators can edit."""

from django.db import migrations
from django.utils import timezone

TASK, SECONDS = "console.tasks.sample_socket_health", 30


def add_entry(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    interval, _ = IntervalSchedule.objects.get_or_create(every=SECONDS, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=TASK, defaults={"task": TASK, "interval": interval, "kwargs": "{}", "args": "[]"}
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_entry(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("console", "0005_periodic_tasks")]

    operations = [migrations.RunPython(add_entry, remove_entry)]
