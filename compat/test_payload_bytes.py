"""The payload is the sender's bytes, as the official Svix SDK and verification libraries see it.

hookd stores, signs, delivers and returns the JSON text of ``payload`` exactly as it was sent. The
SDK serialises a payload with pydantic (compact, keys in insertion order, integers exact, UTF-8 as
is); the delivered body must be that very text, verify with ``svix`` and ``standardwebhooks``, and
read back through the SDK as the same object with the same key order. Spellings the SDK cannot
produce (``1.50``, escapes, whitespace) are sent as raw text and compared as raw text.
"""

from __future__ import annotations

import json
import time

import standardwebhooks.webhooks as stdwh
import svix
import svix.webhooks
from svix.api import (
    MessageAttemptListByEndpointOptions,
    MessageCreateOptions,
    MessageGetOptions,
    MessageListOptions,
)
from svix.models import ApplicationIn, EndpointIn, MessageIn

from conftest import Hookd, Receiver, unique

DELIVERY_TIMEOUT_S = 15.0

# Key order that is not sorted, integers beyond 2^53 and beyond 64 bits, non-ASCII text in
# keys and values, characters JSON must escape, and nesting.
SDK_PAYLOAD = {
    "zebra": 1,
    "apple": {"yak": 2, "bee": [3, {"z": None, "a": True}]},
    "orderId": 9007199254740993,
    "big": 123456789012345678901234567890,
    "negative": -98765432109876543210,
    "unicode": {"日本": "語 🎉", "ß": ["ü", "e\u0301"]},
    "escapes": 'quote " backslash \\ tab \t newline \n',
}

# What only raw text can say: number spellings, escapes written as escapes, whitespace.
RAW_PAYLOAD = (
    '{"price":1.50, "exp":1E+2,"small":2.50e-3,"zero":-0,"one":1.0,'
    '"escaped":"\\u00e9\\ud83d\\ude00\\/","nested":{ "k" :\t[ 1 ,{"b":1,"a":2} ] }\n}'
)


def make_app_with_endpoint(client: svix.Svix, receiver: Receiver):
    app = client.application.create(ApplicationIn(name="payload bytes", uid=unique("app")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url(unique("/bytes"))))
    secret = client.endpoint.get_secret(app.id, endpoint.id).key
    return app, endpoint, secret


def delivered_to(receiver: Receiver, endpoint, msg_id: str):
    path = endpoint.url.split(receiver.url, 1)[1]
    requests = receiver.wait_for(1, DELIVERY_TIMEOUT_S, path=path)
    matching = [r for r in requests if r.headers.get("webhook-id") == msg_id]
    assert len(matching) == 1, [r.headers for r in requests]
    return matching[0]


def assert_verifies(request, secret: str) -> None:
    """Both libraries accept the signature over the body as received (each raises if not)."""
    svix.webhooks.Webhook(secret).verify(request.body, request.headers)
    assert stdwh.Webhook(secret).verify(request.body, request.headers) == json.loads(request.body)


def keys_in_order(value):
    """The value with every object as a list of (key, value) pairs, so that order is compared."""
    if isinstance(value, dict):
        return [(key, keys_in_order(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [keys_in_order(item) for item in value]
    return value


def test_sdk_payload_is_delivered_as_the_sdk_serialised_it(client, receiver):
    app, endpoint, secret = make_app_with_endpoint(client, receiver)
    message_in = MessageIn(event_type="order.created", payload=SDK_PAYLOAD)
    # The exact request body the SDK sends (see svix.api.message.create).
    sent_body = message_in.model_dump_json(exclude_unset=True, by_alias=True)

    created = client.message.create(app.id, message_in, MessageCreateOptions(with_content=True))
    request = delivered_to(receiver, endpoint, created.id)
    body = request.body.decode("utf-8")
    assert f'"payload":{body}' in sent_body, (body, sent_body)
    assert_verifies(request, secret)

    # Python's json keeps key order and integer precision: what the SDK reads back is the payload.
    assert keys_in_order(json.loads(body)) == keys_in_order(SDK_PAYLOAD)
    got = client.message.get(app.id, created.id, MessageGetOptions(with_content=True))
    listed = client.message.list(app.id, MessageListOptions(with_content=True)).data
    for read in (created.payload, got.payload, listed[0].payload):
        assert keys_in_order(read) == keys_in_order(SDK_PAYLOAD)
    assert got.payload["orderId"] == 9007199254740993
    assert got.payload["big"] == 123456789012345678901234567890


def test_raw_payload_text_is_delivered_and_returned_unchanged(hookd: Hookd, client, receiver):
    app, endpoint, secret = make_app_with_endpoint(client, receiver)
    body = '{"eventType":"order.created","payload":' + RAW_PAYLOAD + "}"
    with hookd.http() as http:
        answer = http.post(f"/api/v1/app/{app.id}/msg", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 202, answer.text
        assert f'"payload":{RAW_PAYLOAD}' in answer.text
        msg_id = answer.json()["id"]

        request = delivered_to(receiver, endpoint, msg_id)
        assert request.body.decode("utf-8") == RAW_PAYLOAD
        assert_verifies(request, secret)

        for path in (
            f"/api/v1/app/{app.id}/msg/{msg_id}",
            f"/api/v1/app/{app.id}/msg?with_content=true",
            f"/api/v1/app/{app.id}/attempt/msg/{msg_id}?with_msg=true",
        ):
            read = http.get(path)
            # The receiver has the request before hookd records the attempt, so the attempt
            # listing may still be empty for a moment; the payload must be exact once it is not.
            deadline = time.monotonic() + DELIVERY_TIMEOUT_S
            while read.status_code == 200 and '"data":[]' in read.text and time.monotonic() < deadline:
                time.sleep(0.05)
                read = http.get(path)
            assert read.status_code == 200, read.text
            assert f'"payload":{RAW_PAYLOAD}' in read.text, (path, read.text)

    # The SDK reads the same answers as ordinary JSON.
    got = client.message.get(app.id, msg_id, MessageGetOptions(with_content=True))
    assert got.payload == json.loads(RAW_PAYLOAD)
    attempts = client.message_attempt.list_by_endpoint(
        app.id, endpoint.id, MessageAttemptListByEndpointOptions(with_msg=True, with_content=True)
    )
    assert attempts.data and attempts.data[0].msg.payload == json.loads(RAW_PAYLOAD)


def test_duplicate_payload_key_is_refused_with_422(hookd: Hookd, client, receiver):
    app, _endpoint, _secret = make_app_with_endpoint(client, receiver)
    body = '{"eventType":"order.created","payload":{"order":{"id":1,"id":2}}}'
    with hookd.http() as http:
        answer = http.post(f"/api/v1/app/{app.id}/msg", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail[0]["loc"] == ["body", "payload", "order", "id"]
    assert '"id"' in detail[0]["msg"]
    assert client.message.list(app.id).data == []


def test_sdk_message_in_raw_is_delivered_as_written(client, receiver):
    # `message_in_raw` sends `payload: {}` and the text in `transformationsParams.rawPayload`;
    # hookd used to drop the text and deliver `{}`.
    from svix.api.message import message_in_raw
    from svix.exceptions import HTTPValidationError

    app, endpoint, secret = make_app_with_endpoint(client, receiver)
    raw = '{"amount": 1.50,  "id":"inv_1"}'
    created = client.message.create(app.id, message_in_raw("raw.sent", raw), MessageCreateOptions(with_content=True))
    assert created.payload == {"amount": 1.5, "id": "inv_1"}
    request = delivered_to(receiver, endpoint, created.id)
    assert request.body.decode("utf-8") == raw
    assert_verifies(request, secret)
    try:
        client.message.create(app.id, message_in_raw("raw.sent", "plain text", "text/plain"))
    except HTTPValidationError as error:
        assert error.detail[0].loc == ["body", "transformationsParams", "headers", "content-type"]
    else:
        raise AssertionError("a text/plain raw payload was accepted")
    assert [m.id for m in client.message.list(app.id).data] == [created.id]
