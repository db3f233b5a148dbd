"""Content filters (hookd's ``filter`` on endpoints) seen from the official Svix Python SDK.

The SDK's ``EndpointIn`` has no ``filter`` field, so the filter is set with raw HTTP; everything
else goes through the SDK, which must tolerate the extra field on read. A message reaches only the
endpoints whose filter its payload matches, byte for byte as the SDK sent it; a bad filter is a
422 naming its place inside the filter.
"""

from __future__ import annotations

import json

import svix
from svix.models import ApplicationIn, EndpointIn, MessageIn

from conftest import Hookd, Receiver, unique

DELIVERY_TIMEOUT_S = 15.0


def path_of(receiver: Receiver, endpoint) -> str:
    return endpoint.url.split(receiver.url, 1)[1]


def test_sdk_messages_reach_only_endpoints_whose_filter_matches(hookd: Hookd, client: svix.Svix, receiver: Receiver):
    app = client.application.create(ApplicationIn(name="filters", uid=unique("app")))
    plain = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url(unique("/plain"))))
    big = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url(unique("/big"))))
    filter_doc = {"data": {"amount": {"$gt": 100}, "currency": {"$in": ["eur", "chf"]}}}
    with hookd.http() as http:
        answer = http.patch(f"/api/v1/app/{app.id}/endpoint/{big.id}", json={"filter": filter_doc})
        assert answer.status_code == 200, answer.text
        assert answer.json()["filter"] == filter_doc

    # The SDK reads the endpoint (and the list) with the extension field in it.
    again = client.endpoint.get(app.id, big.id)
    assert again.id == big.id and again.url == big.url
    assert {e.id for e in client.endpoint.list(app.id).data} == {plain.id, big.id}

    matching = client.message.create(
        app.id, MessageIn(event_type="invoice.paid", payload={"data": {"amount": 150, "currency": "eur"}})
    )
    small = client.message.create(
        app.id, MessageIn(event_type="invoice.paid", payload={"data": {"amount": 99, "currency": "eur"}})
    )
    got_big = receiver.wait_for(1, DELIVERY_TIMEOUT_S, path=path_of(receiver, big))
    got_plain = receiver.wait_for(2, DELIVERY_TIMEOUT_S, path=path_of(receiver, plain))
    assert [r.headers.get("webhook-id") for r in got_big] == [matching.id]
    assert {r.headers.get("webhook-id") for r in got_plain} == {matching.id, small.id}
    # The body is the SDK's serialisation, unchanged by the filter's reading of it.
    sent = json.dumps({"data": {"amount": 150, "currency": "eur"}}, separators=(",", ":")).encode()
    assert got_big[0].body == sent
    destinations = client.message_attempt.list_attempted_destinations(app.id, small.id)
    assert [d.id for d in destinations.data] == [plain.id]


def test_a_bad_filter_is_a_422_naming_its_place_and_changes_nothing(hookd: Hookd, client: svix.Svix, receiver: Receiver):
    app = client.application.create(ApplicationIn(name="bad filters", uid=unique("app")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url(unique("/bad"))))
    with hookd.http() as http:
        answer = http.patch(
            f"/api/v1/app/{app.id}/endpoint/{endpoint.id}",
            json={"filter": {"data": {"status": {"$regex": "^p"}}}},
        )
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"][0]
        assert detail["loc"] == ["body", "filter", "data", "status", "$regex"]
        assert "unknown operator" in detail["msg"]
        assert "filter" not in http.get(f"/api/v1/app/{app.id}/endpoint/{endpoint.id}").json()
    # Unfiltered still: a message goes through.
    created = client.message.create(app.id, MessageIn(event_type="a.b", payload={"status": "paid"}))
    got = receiver.wait_for(1, DELIVERY_TIMEOUT_S, path=path_of(receiver, endpoint))
    assert got[0].headers.get("webhook-id") == created.id
