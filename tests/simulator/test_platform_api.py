"""The simulated platform API in its three shapes (native, Genesys Cloud, NICE CXone), over real HTTP."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conversations.models import Conversation
from simulator.formats import render
from simulator.platform import Platform
from simulator.platform_api import Credentials, PlatformAPI
from tests.simulator.harness import SECRETS, post_all

CREDENTIALS = Credentials(
    native_token="native-token",
    genesys_client_id="g-id",
    genesys_client_secret="g-secret",
    cxone_client_id="c-id",
    cxone_client_secret="c-secret",
)
IDS = {"native": "sim-00000000a1", "genesys": "5c1e4b1a-3e0f-4c1e-9a3c-0d6f1f0b2a11", "cxone": "195394484423"}


class Platforms:
    def __init__(self):
        self.platform = Platform()
        self.deliveries = []
        self.api = PlatformAPI(self.platform, credentials=CREDENTIALS, on_changes=self.changed)

    def changed(self, conversation, changes):
        self.deliveries += render(conversation, changes, SECRETS)

    def open_conversation(self, source: str, conversation_id: str, *, answered=True) -> list:
        now = datetime.now(UTC) - timedelta(seconds=10)
        rng = random.Random(conversation_id)
        with self.platform.lock:
            changes = self.platform.start(
                conversation_id=conversation_id,
                source=source,
                scenario=0,
                at=now,
                tenant="acme-corp",
                channel="web-messaging",
                customer_key=f"cust-{conversation_id}",
                customer_name="Jane Customer",
                customer_id=f"chat_{conversation_id[-8:]}" if source == "cxone" else f"p-{conversation_id[-6:]}",
                queue_key="billing",
                routing={"queueId": "billing", "priority": 3},
                custom={"tier": "gold"},
                rng=rng,
            )
            if answered:
                changes += self.platform.assign(conversation_id, now + timedelta(seconds=2))
            conversation = self.platform.get(conversation_id)
            return render(conversation, changes, SECRETS)


@pytest.fixture
def platforms():
    platforms = Platforms()
    platforms.api.start()
    yield platforms
    platforms.api.stop()


def native(platforms, method, path, *, token="native-token", **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{platforms.api.url}/platform{path}", headers=headers, **kwargs)


def genesys_token(platforms, client_id="g-id", secret="g-secret"):
    return httpx.post(
        f"{platforms.api.url}/genesys/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )


def genesys(platforms, method, path, **kwargs):
    token = genesys_token(platforms).json()["access_token"]
    return httpx.request(
        method, f"{platforms.api.url}/genesys{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
    )


def cxone(platforms, method, path, **kwargs):
    token = httpx.post(
        f"{platforms.api.url}/cxone/auth/token",
        data={"grant_type": "client_credentials", "client_id": "c-id", "client_secret": "c-secret"},
    ).json()["access_token"]
    return httpx.request(
        method, f"{platforms.api.url}/cxone{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
    )


def test_it_checks_permissions(platforms):
    platforms.open_conversation("native", IDS["native"])
    assert native(platforms, "GET", f"/api/conversations/{IDS['native']}", token="").status_code == 401
    assert native(platforms, "GET", f"/api/conversations/{IDS['native']}", token="wrong").status_code == 401
    assert genesys_token(platforms, secret="wrong").status_code == 401
    assert httpx.get(f"{platforms.api.url}/genesys/api/v2/conversations/x").status_code == 401
    assert httpx.get(f"{platforms.api.url}/cxone/dfo/3.0/contacts/1").status_code == 401
    # A Genesys token is not a CXone token.
    token = genesys_token(platforms).json()["access_token"]
    response = httpx.get(f"{platforms.api.url}/cxone/dfo/3.0/contacts/1", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_native_get_close_and_list(platforms):
    platforms.open_conversation("native", IDS["native"])
    platforms.open_conversation("native", "sim-00000000b2", answered=False)

    conversation = native(platforms, "GET", f"/api/conversations/{IDS['native']}").json()
    assert conversation["id"] == IDS["native"] and conversation["state"] == "active"
    assert [(p["role"], p["state"]) for p in conversation["participants"]] == [
        ("customer", "connected"),
        ("agent", "connected"),
    ]
    assert conversation["lastActivityAt"].endswith("Z")
    listed = native(platforms, "GET", "/api/conversations", params={"state": "active"}).json()["conversations"]
    assert {(c["id"], c["state"]) for c in listed} == {(IDS["native"], "active"), ("sim-00000000b2", "pending")}

    closed = native(platforms, "POST", f"/api/conversations/{IDS['native']}/close", json={"reason": "ghost"})
    assert closed.status_code == 200 and closed.json() == {"id": IDS["native"], "state": "closed"}
    assert [d.label for d in platforms.deliveries] == [
        "participant.left",
        "participant.left",
        "conversation.state_changed",
    ]
    again = native(platforms, "POST", f"/api/conversations/{IDS['native']}/close", json={"reason": "ghost"})
    assert again.json()["state"] == "closed" and len(platforms.deliveries) == 3
    listed = native(platforms, "GET", "/api/conversations", params={"state": "active"}).json()["conversations"]
    assert [c["id"] for c in listed] == ["sim-00000000b2"]
    assert native(platforms, "GET", "/api/conversations/unknown").status_code == 404
    assert native(platforms, "GET", f"/api/conversations/{IDS['genesys']}").status_code == 404


def test_genesys_conversation_disconnect_and_analytics_query(platforms):
    platforms.open_conversation("genesys", IDS["genesys"])
    token = genesys_token(platforms).json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 86400

    conversation = genesys(platforms, "GET", f"/api/v2/conversations/{IDS['genesys']}").json()
    assert conversation["state"] == "connected" and conversation["endTime"] is None
    assert [p["purpose"] for p in conversation["participants"]] == ["customer", "acd", "agent"]
    assert conversation["participants"][0]["externalContactId"] == f"cust-{IDS['genesys']}"
    assert conversation["participants"][2]["messages"][0]["state"] == "connected"

    query = {
        "interval": "2020-01-01T00:00:00Z/2099-01-01T00:00:00Z",
        "conversationFilters": [
            {
                "type": "and",
                "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "notExists"}],
            }
        ],
    }
    found = genesys(platforms, "POST", "/api/v2/analytics/conversations/details/query", json=query).json()
    assert found["totalHits"] == 1 and found["conversations"][0]["conversationId"] == IDS["genesys"]

    response = genesys(platforms, "POST", f"/api/v2/conversations/{IDS['genesys']}/disconnect")
    assert response.status_code == 202 and response.content == b""
    assert [d.label for d in platforms.deliveries] == ["genesys customer.end", "genesys user.end"]
    conversation = genesys(platforms, "GET", f"/api/v2/conversations/{IDS['genesys']}").json()
    assert conversation["state"] == "disconnected" and conversation["endTime"]
    found = genesys(platforms, "POST", "/api/v2/analytics/conversations/details/query", json=query).json()
    assert found == {"conversations": [], "totalHits": 0}
    everything = genesys(platforms, "POST", "/api/v2/analytics/conversations/details/query", json={}).json()
    assert everything["conversations"][0]["conversationEnd"]
    missing = genesys(platforms, "GET", "/api/v2/conversations/unknown")
    assert missing.status_code == 404 and missing.json()["code"] == "not.found"


def test_cxone_contact_status_and_list(platforms):
    platforms.open_conversation("cxone", IDS["cxone"])
    contact = cxone(platforms, "GET", f"/dfo/3.0/contacts/{IDS['cxone']}").json()
    assert (contact["id"], contact["status"], contact["routingQueuePriority"]) == (IDS["cxone"], "open", 3)
    assert isinstance(contact["inboxAssignee"], int)
    assert contact["customFields"][0]["ident"] == "tier"
    listed = cxone(platforms, "GET", "/dfo/3.0/contacts", params={"status[]": ["new", "open"]}).json()
    assert listed["hits"] == 1 and listed["data"][0]["id"] == IDS["cxone"]

    assert (
        cxone(platforms, "PUT", f"/dfo/3.0/contacts/{IDS['cxone']}/status", json={"status": "bogus"}).status_code == 400
    )
    closed = cxone(platforms, "PUT", f"/dfo/3.0/contacts/{IDS['cxone']}/status", json={"status": "closed"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert [d.label for d in platforms.deliveries] == ["cxone CaseStatusChanged"]
    reopen = cxone(platforms, "PUT", f"/dfo/3.0/contacts/{IDS['cxone']}/status", json={"status": "open"})
    assert reopen.status_code == 409
    listed = cxone(platforms, "GET", "/dfo/3.0/contacts", params={"status[]": ["new", "open"]}).json()
    assert listed == {"hits": 0, "data": [], "scrollToken": ""}


def test_it_answers_unknown_paths_and_methods_with_json(platforms):
    missing = httpx.get(f"{platforms.api.url}/nowhere")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.delete(f"{platforms.api.url}/platform/api/conversations/x")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
    bad = httpx.post(f"{platforms.api.url}/cxone/auth/token", data={"grant_type": "implicit"})
    assert bad.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["native", "genesys", "cxone"])
def test_a_close_through_the_api_closes_the_mirror_through_the_platform_s_webhooks(client, platforms, source):
    post_all(client, platforms.open_conversation(source, IDS[source]))
    assert Conversation.objects.get(pk=IDS[source]).state == "active"

    close = {
        "native": lambda: native(platforms, "POST", f"/api/conversations/{IDS[source]}/close", json={"reason": "x"}),
        "genesys": lambda: genesys(platforms, "POST", f"/api/v2/conversations/{IDS[source]}/disconnect"),
        "cxone": lambda: cxone(platforms, "PUT", f"/dfo/3.0/contacts/{IDS[source]}/status", json={"status": "closed"}),
    }[source]
    assert close().is_success
    post_all(client, platforms.deliveries)
    assert Conversation.objects.get(pk=IDS[source]).state == "closed"
