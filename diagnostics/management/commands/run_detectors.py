"""``manage.py run_detectors [--conversation ID] [--since WHEN]``: run the finding detectors now."""

from __future__ import annotations

import re
import time
from datetime import UTC, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from diagnostics import actions

DURATION = re.compile(r"^(\d+)\s*([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str):
    """An ISO 8601 instant, or a duration back from now: 90s, 15m, 2h, 7d."""
    match = DURATION.match(value.strip().lower())
    if match:
        return timezone.now() - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    moment = parse_datetime(value.strip())
    if moment is None:
        raise CommandError(f"--since must be an ISO 8601 instant or a duration such as 15m, 2h, 7d; got {value!r}")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


class Command(BaseCommand):
    help = (
        "Run every finding detector over the named conversations, or over everything (mirrored "
        "conversations, conversations only telemetry names, and conversation-less widget sessions). "
        "Idempotent: findings whose facts did not change are left as they are; findings whose cause "
        "went away are resolved with a note."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--conversation", dest="conversations", action="append", default=[], metavar="ID", help="Repeatable"
        )
        parser.add_argument("--session", dest="sessions", action="append", default=[], metavar="KEY", help="Repeatable")
        parser.add_argument(
            "--since", help="Only what changed since then: ISO 8601 instant or duration back from now (15m, 2h, 7d)"
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        if options["conversations"] or options["sessions"]:
            if options["since"]:
                raise CommandError("--since applies to a run over everything, not to named conversations")
            stats = actions.run_detectors(options["conversations"], options["sessions"])
        else:
            since = parse_since(options["since"]) if options["since"] else None
            scope = f"changed since {since.isoformat()}" if since else "everything"
            self.stdout.write(f"running detectors over {scope}")

            def progress(stats) -> None:
                rate = stats["subjects"] / max(time.monotonic() - started, 1e-6)
                self.stdout.write(f"examined {stats['subjects']} subjects ({rate:.0f}/s): {self._summary(stats)}")

            stats = actions.run_everything(since=since, progress=progress)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"done in {elapsed:.1f}s: {stats['subjects']} subjects, {self._summary(stats)}")
        )

    @staticmethod
    def _summary(stats) -> str:
        return ", ".join(f"{name} {stats[name]}" for name in ("raised", "updated", "resolved", "unchanged"))
