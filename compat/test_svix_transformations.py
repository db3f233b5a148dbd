"""Endpoint transformations through the official Svix Python SDK: ``endpoint.transformation``
and ``ingest.endpoint.transformation`` get and patch, a syntax error refused by hookd at patch
time, and a delivery whose payload, method and URL the function rewrote, verified with
``standardwebhooks`` against the endpoint's secret (the signature covers the transformed body).
"""

from __future__ import annotations

import json

import httpx
import pytest
import standardwebhooks.webhooks as stdwh
import svix
from svix.exceptions import HTTPValidationError
from svix.models import (
    ApplicationIn,
    EndpointIn,
    EndpointTransformationPatch,
    IngestEndpointIn,
    IngestEndpointTransformationPatch,
    IngestSourceIn,
    MessageIn,
)

from conftest import Receiver, unique

CODE = """function handler(webhook) {
    webhook.payload = { id: webhook.payload.id, via: "transformation", type: webhook.eventType };
    webhook.url = webhook.url.replace("/before", "/after");
    webhook.method = "PUT";
    webhook.headers["x-transformed"] = "yes";
    return webhook;
}"""


def test_endpoint_transformation_get_patch_and_delivery(client: svix.Svix, receiver: Receiver) -> None:
    app = client.application.create(ApplicationIn(name="transformations", uid=unique("app")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url("/before")))
    secret = client.endpoint.get_secret(app.id, endpoint.id).key

    empty = client.endpoint.transformation.get(app.id, endpoint.id)
    assert (empty.code, empty.enabled) == (None, False)

    with pytest.raises(HTTPValidationError) as refused:
        client.endpoint.transformation.patch(
            app.id, endpoint.id, EndpointTransformationPatch(code="function handler(w) {", enabled=True)
        )
    assert refused.value.detail[0].loc == ["body", "code"]
    assert client.endpoint.transformation.get(app.id, endpoint.id).code is None

    client.endpoint.transformation.patch(app.id, endpoint.id, EndpointTransformationPatch(code=CODE, enabled=True))
    shown = client.endpoint.transformation.get(app.id, endpoint.id)
    assert (shown.code, shown.enabled) == (CODE, True)
    assert shown.updated_at is not None

    client.message.create(app.id, MessageIn(event_type="order.created", payload={"id": "ord_1", "secret": "x"}))
    (delivered,) = receiver.wait_for(1, path="/after")
    assert delivered.method == "PUT"
    assert delivered.headers["x-transformed"] == "yes"
    expected = {"id": "ord_1", "via": "transformation", "type": "order.created"}
    wh_headers = {k: v for k, v in delivered.headers.items() if k.startswith("webhook-")}
    assert stdwh.Webhook(secret).verify(delivered.body, wh_headers) == expected

    # Only the switch: the code stays.
    client.endpoint.transformation.patch(app.id, endpoint.id, EndpointTransformationPatch(enabled=False))
    off = client.endpoint.transformation.get(app.id, endpoint.id)
    assert (off.code, off.enabled) == (CODE, False)


def test_ingest_endpoint_transformation_get_and_patch(client: svix.Svix, receiver: Receiver) -> None:
    source = client.ingest.source.create(
        IngestSourceIn(name="generic", uid=unique("src"), type="generic-webhook", config={})
    )
    endpoint = client.ingest.endpoint.create(source.id, IngestEndpointIn(url=receiver.endpoint_url("/in")))
    secret = client.ingest.endpoint.get_secret(source.id, endpoint.id).key
    assert client.ingest.endpoint.transformation.get(source.id, endpoint.id).code is None

    with pytest.raises(HTTPValidationError):
        client.ingest.endpoint.transformation.patch(
            source.id, endpoint.id, IngestEndpointTransformationPatch(code="let handler = 1;")
        )
    code = "function handler(w) { w.payload = { received: w.payload }; return w; }"
    client.ingest.endpoint.transformation.patch(
        source.id, endpoint.id, IngestEndpointTransformationPatch(code=code, enabled=True)
    )
    shown = client.ingest.endpoint.transformation.get(source.id, endpoint.id)
    assert (shown.code, shown.enabled) == (code, True)

    answer = httpx.post(source.ingest_url, content=b'{"n": 1}', headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    (forwarded,) = receiver.wait_for(1, path="/in")
    wh_headers = {k: v for k, v in forwarded.headers.items() if k.startswith("webhook-")}
    assert stdwh.Webhook(secret).verify(forwarded.body, wh_headers) == {"received": {"n": 1}}
    assert json.loads(forwarded.body) == {"received": {"n": 1}}
