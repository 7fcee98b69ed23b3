"""Rebuild the mirror from stored webhook receipts, in arrival order."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from conversations.actions import replay_receipts
from conversations.models import ACCEPTED_OUTCOMES, Conversation, Source, WebhookReceipt
from diagnostics.actions import readopt_deployment_ttls


class Command(BaseCommand):
    help = (
        "Re-apply every accepted webhook receipt in arrival order. On a populated mirror this changes "
        "nothing (the ordering rules make it idempotent); with --reset the mirror is emptied first and "
        "rebuilt from the receipts alone (conversations named by stored telemetry take their widget deployment's "
        "TTL again; socket health from telemetry is lost until the detectors run or widgets report again)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Delete the mirrored conversations first")
        parser.add_argument("--source", choices=[choice for choice, _ in Source.choices], help="Only this source")
        parser.add_argument("--noinput", "--no-input", action="store_true", help="Do not ask before --reset")
        parser.add_argument("--progress-every", type=int, default=1000, help="Print progress every N receipts")

    def handle(self, *args, **options):
        if options["reset"] and options["source"]:
            # A reset empties the whole mirror: rebuilt from one source's receipts, the conversations of
            # the other sources (and the console's transitions of all of them) would be lost.
            raise CommandError(
                "--reset rebuilds the whole mirror from every receipt; it cannot be combined with --source"
            )
        receipts = WebhookReceipt.objects.filter(outcome__in=ACCEPTED_OUTCOMES).order_by("received_at", "id")
        if options["source"]:
            receipts = receipts.filter(source=options["source"])
        total = receipts.count()
        if options["reset"]:
            if not options["noinput"]:
                answer = input(f"Delete {Conversation.objects.count()} mirrored conversations and rebuild? [y/N] ")
                if answer.strip().lower() not in {"y", "yes"}:
                    raise CommandError("aborted")
            with transaction.atomic():
                deleted, _ = Conversation.objects.all().delete()
            self.stdout.write(f"reset: deleted {deleted} mirror rows")
        started = time.monotonic()
        every = max(1, options["progress_every"])

        def progress(done: int) -> None:
            if done % every == 0 or done == total:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.stdout.write(f"replayed {done}/{total} receipts ({rate:.0f}/s)")

        counts = replay_receipts(receipts.iterator(chunk_size=1000), progress=progress)
        if options["reset"]:
            adopted = readopt_deployment_ttls()
            self.stdout.write(f"ttl: {adopted} conversations named by stored telemetry took their deployment's TTL")
        summary = ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "nothing to replay"
        self.stdout.write(self.style.SUCCESS(f"done in {time.monotonic() - started:.1f}s: {summary}"))
