"""State changes of cross-cutting records: API clients and socket-health samples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_id, generate_client_secret
from oauth2_provider.models import get_application_model

from console.events import HEALTH_GROUP, send_on_commit
from console.models import ApiClient, AuditEntry, SocketHealthSample
from console.permissions import SCOPES


@dataclass(frozen=True)
class NewApiClient:
    client_id: str
    client_secret: str  # shown once: only its hash is stored
    scopes: list[str]


def create_api_client(name: str, scopes: list[str], *, actor: str = "system:create_api_client") -> NewApiClient:
    """A confidential OAuth2 client-credentials application allowed exactly ``scopes``."""
    name = name.strip()
    if not name:
        raise ValueError("the client needs a name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; use {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    scopes = [scope for scope in SCOPES if scope in scopes]
    Application = get_application_model()
    client_id, client_secret = generate_client_id(), generate_client_secret()
    with transaction.atomic():
        application = Application.objects.create(
            name=name,
            client_id=client_id,
            client_secret=client_secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            hash_client_secret=True,
        )
        ApiClient.objects.create(application=application, scopes=scopes)
        AuditEntry.objects.create(
            actor=actor,
            action="api_client.created",
            target_type="api_client",
            target_id=client_id,
            after={"name": name, "scopes": scopes},
        )
    return NewApiClient(client_id=client_id, client_secret=client_secret, scopes=scopes)


def record_socket_health_sample() -> SocketHealthSample:
    """Store the current counters (for the chart) and push them to open dashboards."""
    from conversations.queries import socket_health_counts

    now = timezone.now()
    sample = SocketHealthSample.objects.create(at=now, counts=socket_health_counts())
    SocketHealthSample.objects.filter(at__lt=now - timedelta(days=settings.CONSOLE_SAMPLE_RETENTION_DAYS)).delete()
    send_on_commit(HEALTH_GROUP, {"type": "health.update", "counts": sample.counts, "at": now.isoformat()})
    return sample
