"""manage.py create_deployment and run_detectors."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.models import AuditEntry
from diagnostics.models import Finding, WidgetDeployment
from tests.diagnostics.test_detectors import active

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_creates_a_deployment_and_prints_its_key():
    output = run(
        "create_deployment",
        "Acme web",
        "--origin",
        "https://www.example.com/",
        "HTTPS://App.Example.com:443",
        "--ttl",
        "600",
    )
    deployment = WidgetDeployment.objects.get()
    assert output.strip() == deployment.key
    assert deployment.key.startswith("wd_")
    assert deployment.allowed_origins == ["https://www.example.com", "https://app.example.com"]
    assert deployment.session_ttl_seconds == 600
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id, entry.actor) == (
        "deployment.created",
        str(deployment.pk),
        "system:manage.py create_deployment",
    )


def test_it_takes_threshold_overrides():
    run(
        "create_deployment",
        "kiosk",
        "--origin",
        "https://kiosk.example.com",
        "--ghost-grace",
        "60",
        "--missed-pongs",
        "2",
    )
    deployment = WidgetDeployment.objects.get()
    assert (deployment.ghost_grace_seconds, deployment.missed_pongs_threshold) == (60, 2)
    assert deployment.pong_window_seconds is None


@pytest.mark.parametrize("origin", ["www.example.com", "https://www.example.com/path", "ftp://x.example.com", "null"])
def test_it_refuses_what_is_not_an_origin(origin):
    with pytest.raises(CommandError, match="is not an origin"):
        run("create_deployment", "bad", "--origin", origin)
    assert not WidgetDeployment.objects.exists()


def test_it_runs_detectors_over_everything_with_progress(scene):
    active(scene, "c-1")
    scene.message("c-1", "m-1", seconds=10, text="help", idempotency_key="a")
    scene.message("c-1", "m-2", seconds=12, text="help", idempotency_key="b")
    Finding.objects.all().delete()
    output = run("run_detectors")
    assert "running detectors over everything" in output
    assert "examined 1 subjects" in output
    assert "done in" in output and "raised 1" in output
    assert Finding.objects.get().kind == "duplicate_message"
    assert "raised 0" in run("run_detectors") and "unchanged 1" in run("run_detectors")


def test_it_runs_detectors_for_named_conversations_and_since(scene):
    active(scene, "c-1")
    active(scene, "c-2", seconds=100)
    scene.at(2000)
    output = run("run_detectors", "--conversation", "c-1")
    assert "1 subjects" in output
    assert set(Finding.objects.values_list("conversation_id", flat=True)) == {"c-1"}
    assert "0 subjects" in run("run_detectors", "--since", "5m")
    run("run_detectors", "--since", "2026-11-24T09:00:00Z")
    assert set(Finding.objects.values_list("conversation_id", flat=True)) == {"c-1", "c-2"}


def test_it_refuses_a_bad_since():
    with pytest.raises(CommandError, match="--since"):
        run("run_detectors", "--since", "last tuesday")
