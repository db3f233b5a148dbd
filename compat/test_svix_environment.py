"""Moving an installation with the official Python SDK: ``environment.export``,
``environment.import_`` and ``event_type.import_openapi``, and a full move from one hookd to a
second, fresh one after which a message is signed with the original secret.

The SDK's ``EnvironmentIn``/``EnvironmentOut`` models know only ``eventTypes``, ``settings`` and
``connectors`` (pydantic drops the rest), so the full move, with hookd's ``applications``, posts
the exported JSON as it is, which is what ``hookd export``/``hookd import`` do.
"""

from __future__ import annotations

import pytest
import svix
import svix.webhooks
from svix.exceptions import HTTPValidationError
from svix.models import (
    ApplicationIn,
    EndpointIn,
    EnvironmentIn,
    EventTypeImportOpenApiIn,
    EventTypeIn,
    MessageIn,
)

from conftest import Hookd, Receiver, running_hookd, unique
from test_svix_sdk import verify_delivery

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def sdk(server: Hookd) -> svix.Svix:
    return svix.Svix(server.token, svix.SvixOptions(server_url=server.url))


@pytest.fixture
def fresh(tmp_path) -> Hookd:
    with running_hookd(tmp_path) as server:
        yield server


def test_export_parses_as_the_sdk_model_and_import_writes_event_types(client, fresh: Hookd):
    name = unique("compat") + ".exported"
    client.event_type.create(EventTypeIn(name=name, description="exported", schemas={"1": {"type": "object"}}))
    exported = client.environment.export()
    assert name in [event_type.name for event_type in exported.event_types]
    assert exported.connectors == []

    target = sdk(fresh)
    target.environment.import_(
        EnvironmentIn(event_types=[EventTypeIn(name=t.name, description=t.description, schemas=t.schemas)
                                   for t in exported.event_types if t.name == name])
    )
    imported = target.event_type.get(name)
    assert imported.description == "exported"
    assert imported.schemas == {"1": {"type": "object"}}
    # Importing again does not duplicate.
    target.environment.import_(EnvironmentIn(event_types=[EventTypeIn(name=name, description="again")]))
    names = [t.name for t in target.event_type.list().data]
    assert names.count(name) == 1
    assert target.event_type.get(name).description == "again"


def test_import_refuses_what_hookd_cannot_honour(client):
    name = unique("compat") + ".refused"
    for body, loc in [
        (EnvironmentIn(settings={"colorPaletteLight": {}}), ["body", "settings", "colorPaletteLight"]),
        (EnvironmentIn(event_types=[EventTypeIn(name=name, description="x"), EventTypeIn(name="bad name!", description="")]),
         ["body", "eventTypes", "1", "name"]),
    ]:
        with pytest.raises(HTTPValidationError) as info:
            client.environment.import_(body)
        assert info.value.detail[0].loc == loc, info.value.detail
    # Nothing of the refused document was written.
    assert name not in [t.name for t in client.event_type.list().data]


def test_a_moved_installation_signs_with_the_original_secret(client, hookd: Hookd, fresh: Hookd, receiver: Receiver):
    uid = unique("moved")
    app = client.application.create(ApplicationIn(name="Moved", uid=uid, metadata={"plan": "pro"}))
    endpoint = client.endpoint.create(
        app.id, EndpointIn(url=receiver.endpoint_url("/moved"), uid="main", secret=SECRET, channels=["eu"])
    )
    with hookd.http() as http:
        response = http.post("/api/v1/environment/export")
        assert response.status_code == 200, response.text
        document = response.json()
    # Only the moved application, so the fresh hookd holds nothing else of the shared session.
    document["applications"] = [a for a in document["applications"] if a.get("uid") == uid]
    assert document["applications"][0]["endpoints"][0]["secret"] == SECRET

    with fresh.http() as http:
        response = http.post("/api/v1/environment/import", json=document)
        assert response.status_code == 204, response.text
    target = sdk(fresh)
    moved = target.application.get(uid)
    assert moved.id == app.id and moved.metadata == {"plan": "pro"}
    assert target.endpoint.get(uid, "main").id == endpoint.id
    assert target.endpoint.get_secret(uid, "main").key == SECRET

    payload = {"moved": True}
    message = target.message.create(uid, MessageIn(event_type="invoice.paid", payload=payload, channels=["eu"]))
    delivered = receiver.wait_for(1, path="/moved")
    verify_delivery(delivered[0], SECRET, message.id, payload)


def test_import_openapi_creates_event_types_and_dry_run_writes_nothing(client):
    name = unique("compat") + ".created"
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "webhooks": {name: {"post": {
            "description": "From OpenAPI",
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Thing"}, "example": {"id": "t1"}}}},
        }}},
        "components": {"schemas": {"Thing": {"type": "object", "properties": {"id": {"type": "string"}}}}},
    }
    dry = client.event_type.import_openapi(EventTypeImportOpenApiIn(spec=spec, dry_run=True))
    assert dry.data.modified == []
    assert [t.name for t in dry.data.to_modify] == [name]
    assert name not in [t.name for t in client.event_type.list().data]

    done = client.event_type.import_openapi(EventTypeImportOpenApiIn(spec=spec))
    assert done.data.modified == [name]
    created = client.event_type.get(name)
    assert created.description == "From OpenAPI"
    assert created.schemas["1"]["properties"] == {"id": {"type": "string"}}
    assert created.schemas["1"]["examples"] == [{"id": "t1"}]

    with pytest.raises(HTTPValidationError) as info:
        client.event_type.import_openapi(EventTypeImportOpenApiIn(spec={"openapi": "3.1.0", "paths": {}}))
    assert info.value.detail[0].loc == ["body", "spec"], info.value.detail

