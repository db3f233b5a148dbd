"""Payload validation (``enforceSchema``, a hookd extension) seen through the official Svix SDK:
the SDK creates the event type, the flag is set over raw HTTP (the SDK's ``EventTypeIn`` cannot
carry it), the SDK's own reads still parse the event type with the extra field, and
``message.create`` with a payload that breaks the schema raises ``HTTPValidationError`` with
status 422 and the violation's JSON pointer and rule in the body. The SDK's full update
(``event_type.upsert``, a PUT that cannot send the flag) leaves enforcement on.
"""

from __future__ import annotations

import pytest
from svix.exceptions import HTTPValidationError
from svix.models import EventTypeIn, EventTypePatch, EventTypeUpsertIn, MessageIn

from conftest import unique
from test_svix_sdk import make_app

SCHEMA = {
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": {"type": "string"},
        "items": {
            "type": "array",
            "items": {"type": "object", "required": ["price"], "properties": {"price": {"type": "number", "minimum": 1}}},
        },
    },
}


def test_an_enforced_schema_refuses_a_bad_payload_through_the_sdk(client, hookd):
    name = unique("compat") + ".order.placed"
    client.event_type.create(EventTypeIn(name=name, description="An order", schemas={"1": SCHEMA}))
    with hookd.http() as http:
        answer = http.patch(f"/api/v1/event-type/{name}", json={"enforceSchema": True})
        assert answer.status_code == 200, answer.text
        assert answer.json()["enforceSchema"] is True
    # The SDK's models ignore the extension when they parse an event type.
    assert client.event_type.get(name).name == name
    assert name in [event_type.name for event_type in client.event_type.list().data]

    app = make_app(client)
    good = client.message.create(app.id, MessageIn(event_type=name, payload={"id": "o1", "items": [{"price": 5}]}))
    assert good.event_type == name

    with pytest.raises(HTTPValidationError) as info:
        client.message.create(app.id, MessageIn(event_type=name, payload={"id": "o2", "items": [{"price": 0}]}))
    assert info.value.status_code == 422
    (violation,) = info.value.detail
    assert violation.loc == ["body", "payload", "items", "0", "price"]
    assert violation.additional_properties["pointer"] == "/items/0/price"
    assert violation.additional_properties["rule"] == "minimum"
    assert violation.additional_properties["schemaVersion"] == "1"

    with pytest.raises(HTTPValidationError) as info:
        client.message.create(app.id, MessageIn(event_type=name, payload={"id": "o3"}))
    assert [(v.additional_properties["pointer"], v.additional_properties["rule"]) for v in info.value.detail] == [
        ("/items", "required")
    ]
    # Only the good message was stored.
    assert [message.id for message in client.message.list(app.id).data] == [good.id]

    # The SDK's upsert (a PUT) cannot send the flag, and does not turn enforcement off; its new
    # schema is enforced from the next message on.
    client.event_type.upsert(
        name, EventTypeUpsertIn(description="An order", schemas={"1": SCHEMA, "2": {"type": "object", "required": ["total"]}})
    )
    with hookd.http() as http:
        assert http.get(f"/api/v1/event-type/{name}").json()["enforceSchema"] is True
    with pytest.raises(HTTPValidationError) as info:
        client.message.create(app.id, MessageIn(event_type=name, payload={"id": "o4", "items": []}))
    assert info.value.detail[0].additional_properties["pointer"] == "/total"

    # A patch through the SDK keeps it too.
    client.event_type.patch(name, EventTypePatch(description="Orders"))
    with pytest.raises(HTTPValidationError):
        client.message.create(app.id, MessageIn(event_type=name, payload={"id": "o5", "items": []}))


def test_enforcing_an_invalid_schema_is_refused(client, hookd):
    name = unique("compat") + ".broken"
    client.event_type.create(EventTypeIn(name=name, description="Broken", schemas={"1": {"type": "no-such-type"}}))
    with hookd.http() as http:
        answer = http.patch(f"/api/v1/event-type/{name}", json={"enforceSchema": True})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "schemas", "1"]
        assert http.get(f"/api/v1/event-type/{name}").json()["enforceSchema"] is False
