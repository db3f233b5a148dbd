"""The official Svix SDK's ``endpoint.send_example`` and the custom headers of operational
webhook endpoints (``operational_webhook.endpoint.get_headers`` / ``set_headers``), called as
the SDK calls them and checked by what a loopback receiver gets.
"""

from __future__ import annotations


import json

import pytest
import svix.webhooks
from svix.exceptions import HTTPValidationError
from svix.models import (
    EventExampleIn,
    EventTypeIn,
    MessageIn,
    OperationalWebhookEndpointHeadersIn,
    OperationalWebhookEndpointIn,
)

from conftest import Receiver, unique
from test_svix_sdk import make_app, make_endpoint, raises_http, verify_delivery


def test_send_example_reaches_only_its_endpoint(client, receiver: Receiver):
    app = make_app(client)
    event_type = unique("compat") + ".user.created"
    client.event_type.create(
        EventTypeIn(
            name=event_type,
            description="A user was created",
            schemas={"1": {"type": "object", "examples": [{"user": "first"}, {"user": "second"}]}},
        )
    )
    chosen, secret = make_endpoint(client, app.id, receiver.endpoint_url("/chosen"), filter_types=["other.type"])
    make_endpoint(client, app.id, receiver.endpoint_url("/other"))

    sent = client.endpoint.send_example(app.id, chosen.id, EventExampleIn(event_type=event_type, example_index=1))
    assert sent.event_type == event_type
    assert sent.payload == {"user": "second"}
    assert sent.timestamp.tzinfo is not None
    (request,) = receiver.wait_for(1, path="/chosen")
    verify_delivery(request, secret, sent.id, {"user": "second"})

    first = client.endpoint.send_example(app.uid, chosen.id, EventExampleIn(event_type=event_type))
    assert first.payload == {"user": "first"}
    receiver.wait_for(2, path="/chosen")
    # The other endpoint has no delivery of either example; an ordinary message reaches it.
    for message in (sent, first):
        destinations = client.message_attempt.list_attempted_destinations(app.id, message.id).data
        assert [d.id for d in destinations] == [chosen.id]
    ordinary = client.message.create(app.id, MessageIn(event_type=event_type, payload={"ordinary": True}))
    (to_other,) = receiver.wait_for(1, path="/other")
    assert to_other.headers["webhook-id"] == ordinary.id


def test_send_example_refusals(client):
    app = make_app(client)
    endpoint, _ = make_endpoint(client, app.id, "http://127.0.0.1:9/never")
    no_examples = unique("compat") + ".plain"
    client.event_type.create(EventTypeIn(name=no_examples, description="no examples"))

    for body, field in [
        (EventExampleIn(event_type=no_examples), "eventType"),
        (EventExampleIn(event_type=unique("compat") + ".missing"), "eventType"),
        (EventExampleIn(event_type=no_examples, example_index=-1), "exampleIndex"),
    ]:
        with pytest.raises(HTTPValidationError) as info:
            client.endpoint.send_example(app.id, endpoint.id, body)
        assert info.value.detail[0].loc == ["body", field], info.value.detail

    raises_http(404, lambda: client.endpoint.send_example(app.id, "ep_missing", EventExampleIn(event_type=no_examples)))
    raises_http(404, lambda: client.endpoint.send_example("app_missing", endpoint.id, EventExampleIn(event_type=no_examples)))


def test_operational_endpoint_headers(client, receiver: Receiver):
    ops_endpoint = client.operational_webhook.endpoint.create(
        OperationalWebhookEndpointIn(url=receiver.endpoint_url("/operational"), event_types=["endpoint.created"])
    )
    secret = client.operational_webhook.endpoint.get_secret(ops_endpoint.id).key
    empty = client.operational_webhook.endpoint.get_headers(ops_endpoint.id)
    assert (empty.headers, list(empty.sensitive)) == ({}, [])

    assert (
        client.operational_webhook.endpoint.set_headers(
            ops_endpoint.id,
            OperationalWebhookEndpointHeadersIn(headers={"X-Operator": "ops", "Authorization": "Bearer op"}),
        )
        is None
    )
    shown = client.operational_webhook.endpoint.get_headers(ops_endpoint.id)
    assert shown.headers == {"X-Operator": "ops"}
    assert list(shown.sensitive) == ["Authorization"]

    app = make_app(client)
    created, _ = make_endpoint(client, app.id, "http://127.0.0.1:9/never")
    requests = receiver.wait_for(1, path="/operational")
    (request,) = [r for r in requests if json.loads(r.body)["data"]["endpointId"] == created.id]
    assert request.headers.get("x-operator") == "ops"
    assert request.headers.get("authorization") == "Bearer op"
    svix.webhooks.Webhook(secret).verify(request.body, request.headers)

    with pytest.raises(HTTPValidationError) as info:
        client.operational_webhook.endpoint.set_headers(
            ops_endpoint.id, OperationalWebhookEndpointHeadersIn(headers={"webhook-id": "x"})
        )
    assert info.value.detail[0].loc == ["body", "headers", "webhook-id"], info.value.detail
    raises_http(404, lambda: client.operational_webhook.endpoint.get_headers("ep_missing"))
    client.operational_webhook.endpoint.delete(ops_endpoint.id)
