"""Expire conversations idle past their TTL now (what the expire_stale_sessions task does every minute)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from conversations.actions import expire_stale


class Command(BaseCommand):
    help = (
        "Expire pending/active conversations whose last activity is older than their TTL (one audit row "
        "each). With --dry-run, list what would expire and change nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List what would expire; change nothing")
        parser.add_argument("--limit", type=int, default=200, help="List at most this many conversations")

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        started = time.monotonic()
        items = expire_stale(dry_run=dry_run)
        verb = "would expire" if dry_run else "expired"
        limit = max(0, options["limit"])
        for item in items[:limit]:
            self.stdout.write(
                f"{verb}: {item['conversationId']}  {item['previousState']}  "
                f"last activity {item['lastActivityAt']}  TTL {item['ttlSeconds']} s  expired at {item['expiresAt']}"
            )
        if len(items) > limit:
            self.stdout.write(f"... and {len(items) - limit} more")
        summary = f"{len(items)} conversation(s) {verb} in {time.monotonic() - started:.2f}s"
        if dry_run:
            summary += " (dry run: nothing changed)"
        self.stdout.write(self.style.SUCCESS(summary))
