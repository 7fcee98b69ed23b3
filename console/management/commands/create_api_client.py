"""Create an OAuth2 client-credentials API client and print its credentials as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from console.actions import create_api_client
from console.permissions import SCOPES


class Command(BaseCommand):
    help = (
        "Create an API client allowed the given scopes and print "
        '{"client_id", "client_secret"} as JSON (the secret is shown only this once).'
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name that says who uses the client")
        parser.add_argument(
            "--scope",
            action="append",
            choices=SCOPES,
            required=True,
            dest="scopes",
            help="A scope the client may be granted; repeat for several",
        )

    def handle(self, *args, name, scopes, **options):
        try:
            client = create_api_client(name, scopes)
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps({"client_id": client.client_id, "client_secret": client.client_secret}))
        self.stderr.write(f"created API client {name!r} with scopes: {' '.join(client.scopes)}")
