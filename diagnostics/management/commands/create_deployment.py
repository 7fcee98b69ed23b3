"""``manage.py create_deployment NAME --origin URL... --ttl SECONDS``: a widget deployment; prints its key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from diagnostics.actions import create_deployment


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Create a widget deployment allowed to send telemetry from the given origins and print its public "
        "key (the X-Deployment-Key header). Thresholds left out use the settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--origin",
            dest="origins",
            action="extend",
            nargs="+",
            required=True,
            metavar="URL",
            help="Allowed origin, e.g. https://www.example.com (repeatable)",
        )
        parser.add_argument("--ttl", type=positive, help="Session TTL in seconds (default CONSOLE_SESSION_TTL_SECONDS)")
        parser.add_argument("--ghost-grace", type=positive, help="Ghost grace period in seconds")
        parser.add_argument("--pong-window", type=positive, help="Pong window in seconds")
        parser.add_argument("--missed-pongs", type=positive, help="Consecutive missed pongs that make a socket silent")
        parser.add_argument("--duplicate-window", type=positive, help="Duplicate-message window in seconds")
        parser.add_argument(
            "--beacon-quota", type=positive, help="Beacons stored per UTC day (default TELEMETRY_DAILY_BEACON_QUOTA)"
        )

    def handle(self, *args, **options):
        overrides = {
            "ghost_grace_seconds": options["ghost_grace"],
            "pong_window_seconds": options["pong_window"],
            "missed_pongs_threshold": options["missed_pongs"],
            "duplicate_message_window_seconds": options["duplicate_window"],
            "daily_beacon_quota": options["beacon_quota"],
        }
        try:
            deployment = create_deployment(
                name=options["name"],
                origins=options["origins"],
                ttl_seconds=options["ttl"],
                actor="system:manage.py create_deployment",
                **{name: value for name, value in overrides.items() if value is not None},
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(deployment.key)
