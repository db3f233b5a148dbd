"""hookd's inbound gateway driven by the official Svix Python SDK (``svix.ingest``).

Sources and their ingest endpoints are managed with ``svix.ingest.source`` and
``svix.ingest.endpoint``; the ingest URL the SDK hands back receives a request signed by svix's
own ``svix.webhooks.Webhook`` (a ``svix`` source), and the event forwarded to the ingest endpoint
is checked with ``standardwebhooks`` against that endpoint's own secret, byte for byte.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest
import standardwebhooks.webhooks as stdwh
import svix.webhooks
from svix.api.ingest_source import IngestSourceListOptions
from svix.models import (
    IngestEndpointHeadersIn,
    IngestEndpointIn,
    IngestEndpointSecretIn,
    IngestSourceIn,
    StripeConfig,
    SvixConfig,
)

from conftest import Hookd, Receiver, unique

PROVIDER_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_sources_round_trip_through_the_sdk(client) -> None:
    uid = unique("stripe")
    created = client.ingest.source.create(
        IngestSourceIn(name="Stripe live", uid=uid, type="stripe", config=StripeConfig(secret="whsec_x"))
    )
    assert created.id.startswith("src_")
    assert created.type == "stripe"
    assert created.ingest_url and "/ingest/in/" in created.ingest_url

    fetched = client.ingest.source.get(uid)
    assert fetched.id == created.id
    listed = client.ingest.source.list(IngestSourceListOptions(limit=100))
    assert created.id in [source.id for source in listed.data]

    renamed = client.ingest.source.upsert(
        created.id,
        IngestSourceIn(name="Renamed", type="stripe", config=StripeConfig(secret="whsec_y")),
    )
    assert (renamed.name, renamed.uid) == ("Renamed", uid)

    rotated = client.ingest.source.rotate_token(created.id)
    assert rotated.ingest_url != created.ingest_url

    client.ingest.source.delete(created.id)
    with pytest.raises(Exception):
        client.ingest.source.get(created.id)


def test_an_unknown_source_type_is_a_422_naming_the_field(hookd: Hookd) -> None:
    # The SDK refuses unknown types itself, so this one call is raw.
    with hookd.http() as http:
        response = http.post(
            "/ingest/api/v1/source", json={"name": "x", "type": "no-such-provider", "config": {}}
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "type"]


def test_a_missing_secret_is_a_422_naming_the_field(hookd: Hookd) -> None:
    # The SDK's own model refuses a Stripe config without a secret, so this call is raw too.
    with hookd.http() as http:
        response = http.post("/ingest/api/v1/source", json={"name": "x", "type": "stripe", "config": {}})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "config", "secret"]


def test_a_signed_request_is_forwarded_to_the_ingest_endpoint(client, receiver: Receiver) -> None:
    source = client.ingest.source.create(
        IngestSourceIn(name="Clerk", uid=unique("svix"), type="svix", config=SvixConfig(secret=PROVIDER_SECRET))
    )
    endpoint = client.ingest.endpoint.create(
        source.id, IngestEndpointIn(url=receiver.endpoint_url("/ingest"), description="app")
    )
    assert client.ingest.endpoint.get(source.id, endpoint.id).url == receiver.endpoint_url("/ingest")
    assert [e.id for e in client.ingest.endpoint.list(source.id).data] == [endpoint.id]

    client.ingest.endpoint.set_headers(
        source.id, endpoint.id, IngestEndpointHeadersIn(headers={"x-forwarded-by": "hookd"})
    )
    assert client.ingest.endpoint.get_headers(source.id, endpoint.id).headers == {"x-forwarded-by": "hookd"}
    old_secret = client.ingest.endpoint.get_secret(source.id, endpoint.id).key
    client.ingest.endpoint.rotate_secret(source.id, endpoint.id, IngestEndpointSecretIn())
    secret = client.ingest.endpoint.get_secret(source.id, endpoint.id).key
    assert secret != old_secret

    body = '{"type":"user.created", "data": {"id": "user_1", "amount": 1.50}}'
    msg_id = unique("msg")
    now = datetime.now(tz=timezone.utc)
    signature = svix.webhooks.Webhook(PROVIDER_SECRET).sign(msg_id, now, body)
    headers = {
        "svix-id": msg_id,
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": signature,
        "content-type": "application/json",
    }
    answer = httpx.post(source.ingest_url, content=body.encode(), headers=headers, timeout=15)
    assert answer.status_code == 200, answer.text
    duplicate = httpx.post(source.ingest_url, content=body.encode(), headers=headers, timeout=15)
    assert (duplicate.status_code, duplicate.json()["status"]) == (200, "duplicate")
    tampered = httpx.post(source.ingest_url, content=body.encode() + b" ", headers=headers, timeout=15)
    assert (tampered.status_code, tampered.json()["code"]) == (401, "no_matching_signature")

    (forwarded,) = receiver.wait_for(1, path="/ingest")
    assert forwarded.body == body.encode(), "the forwarded body is the received bytes"
    assert forwarded.headers["x-forwarded-by"] == "hookd"
    wh_headers = {k: v for k, v in forwarded.headers.items() if k.startswith("webhook-")}
    assert stdwh.Webhook(secret).verify(forwarded.body, wh_headers) == json.loads(body)
    assert wh_headers["webhook-id"] == answer.json()["msgId"]

    client.ingest.endpoint.delete(source.id, endpoint.id)
    client.ingest.source.delete(source.id)


def test_a_generic_webhook_source_with_an_hmac_made_through_the_sdk(client) -> None:
    """The SDK passes a generic-webhook config through as a free-form dict; hookd's checked
    HMAC config comes back without its secret, and the ingest URL refuses an unsigned post."""
    import hashlib
    import hmac

    created = client.ingest.source.create(
        IngestSourceIn(
            name="Generic",
            type="generic-webhook",
            config={"hmac": {"header": "X-Signature", "prefix": "sha256="}, "secret": "generic-key"},
        )
    )
    rendered = client.ingest.source.get(created.id)
    assert "generic-key" not in json.dumps(rendered.to_dict() if hasattr(rendered, "to_dict") else str(rendered))
    body = b'{"event":"done"}'
    tag = hmac.new(b"generic-key", body, hashlib.sha256).hexdigest()
    signed = httpx.post(created.ingest_url, content=body, headers={"X-Signature": f"sha256={tag}"})
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "accepted"
    unsigned = httpx.post(created.ingest_url, content=body)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "missing_signature")
    client.ingest.source.delete(created.id)
