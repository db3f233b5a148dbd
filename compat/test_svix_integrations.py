"""Integrations through the official Svix Python SDK (``client.integration``).

Every operation of svix 2.9.1's ``Integration`` API: ``create``, ``get``, ``list`` (paging and
order), ``update``, ``delete`` and ``rotate_key``. The rotated key works as an SDK token for its
own application only, is refused at once after another rotation and after the integration is
deleted, and never appears in ``IntegrationOut``. Bad inputs are 422s and unknown ids 404s.
"""

from __future__ import annotations

import pytest
import svix
from svix.api import IntegrationListOptions
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import ApplicationIn, EndpointIn, IntegrationIn, IntegrationUpdate, Ordering

from conftest import Hookd, unique


def as_key(hookd: Hookd, key: str) -> svix.Svix:
    return svix.Svix(key, svix.SvixOptions(server_url=hookd.url))


def status_of(call) -> int:
    with pytest.raises((HttpError, HTTPValidationError)) as refused:
        call()
    return refused.value.status_code


def test_integration_crud_through_the_sdk(client: svix.Svix) -> None:
    app = client.application.create(ApplicationIn(name="crm", uid=unique("crm")))
    created = client.integration.create(
        app.id, IntegrationIn(name="Zapier", feature_flags=["beta", "alpha"])
    )
    assert created.id.startswith("integ_") and len(created.id) == 33
    assert created.name == "Zapier"
    assert created.feature_flags == ["alpha", "beta"]
    assert created.created_at == created.updated_at

    got = client.integration.get(app.uid, created.id)
    assert got == created

    second = client.integration.create(app.id, IntegrationIn(name="Make"))
    assert second.feature_flags == []
    first_page = client.integration.list(app.id, IntegrationListOptions(limit=1))
    assert [i.id for i in first_page.data] == [second.id]
    assert not first_page.done
    rest = client.integration.list(
        app.id, IntegrationListOptions(limit=1, iterator=first_page.iterator)
    )
    assert [i.id for i in rest.data] == [created.id]
    assert rest.done
    ascending = client.integration.list(
        app.id, IntegrationListOptions(order=Ordering.ASCENDING)
    )
    assert [i.id for i in ascending.data] == [created.id, second.id]

    updated = client.integration.update(
        app.id, created.id, IntegrationUpdate(name="Zapier 2", feature_flags=["gamma"])
    )
    assert (updated.name, updated.feature_flags) == ("Zapier 2", ["gamma"])
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at

    client.integration.delete(app.id, created.id)
    assert status_of(lambda: client.integration.get(app.id, created.id)) == 404
    assert [i.id for i in client.integration.list(app.id).data] == [second.id]


def test_a_rotated_key_is_a_token_of_its_own_application(hookd: Hookd, client: svix.Svix) -> None:
    app = client.application.create(ApplicationIn(name="own", uid=unique("own")))
    other = client.application.create(ApplicationIn(name="other", uid=unique("other")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url="https://example.com/hook"))
    integration = client.integration.create(app.id, IntegrationIn(name="reader"))

    key = client.integration.rotate_key(app.id, integration.id).key
    assert key.startswith("integsk_")
    keyed = as_key(hookd, key)
    assert [e.id for e in keyed.endpoint.list(app.id).data] == [endpoint.id]
    assert [e.id for e in keyed.endpoint.list(app.uid).data] == [endpoint.id]
    assert status_of(lambda: keyed.endpoint.list(other.id)) == 403
    assert status_of(lambda: keyed.application.list()) == 403
    assert status_of(lambda: keyed.integration.list(app.id)) == 403
    assert status_of(lambda: keyed.integration.rotate_key(app.id, integration.id)) == 403

    listed = client.integration.list(app.id).model_dump_json()
    assert key not in listed
    assert key not in client.integration.get(app.id, integration.id).model_dump_json()

    newer = client.integration.rotate_key(app.id, integration.id).key
    assert newer != key
    assert status_of(lambda: keyed.endpoint.list(app.id)) == 401, "the old key is revoked at once"
    assert as_key(hookd, newer).endpoint.list(app.id).data

    client.integration.delete(app.id, integration.id)
    assert status_of(lambda: as_key(hookd, newer).endpoint.list(app.id)) == 401


def test_deleting_the_application_ends_its_integrations(hookd: Hookd, client: svix.Svix) -> None:
    app = client.application.create(ApplicationIn(name="gone", uid=unique("gone")))
    integration = client.integration.create(app.id, IntegrationIn(name="gone"))
    key = client.integration.rotate_key(app.id, integration.id).key
    assert as_key(hookd, key).application.get(app.id).id == app.id
    client.application.delete(app.id)
    assert status_of(lambda: as_key(hookd, key).application.get(app.id)) == 401
    assert status_of(lambda: client.integration.list(app.id)) == 404


@pytest.mark.parametrize(
    "body",
    [
        IntegrationIn(name=""),
        IntegrationIn(name="n" * 257),
        IntegrationIn(name="x", feature_flags=["not ok"]),
        IntegrationIn(name="x", feature_flags=["f" * 257]),
        IntegrationIn(name="x", feature_flags=[f"f{n}" for n in range(26)]),
    ],
    ids=["empty-name", "long-name", "bad-flag", "long-flag", "too-many-flags"],
)
def test_bad_inputs_are_422_and_change_nothing(client: svix.Svix, body: IntegrationIn) -> None:
    app = client.application.create(ApplicationIn(name="strict", uid=unique("strict")))
    kept = client.integration.create(app.id, IntegrationIn(name="kept"))
    assert status_of(lambda: client.integration.create(app.id, body)) == 422
    update = IntegrationUpdate(name=body.name, feature_flags=body.feature_flags)
    assert status_of(lambda: client.integration.update(app.id, kept.id, update)) == 422
    assert client.integration.list(app.id).data == [kept]


def test_unknown_and_other_applications_ids_are_404(client: svix.Svix) -> None:
    app = client.application.create(ApplicationIn(name="a", uid=unique("a")))
    other = client.application.create(ApplicationIn(name="b", uid=unique("b")))
    foreign = client.integration.create(other.id, IntegrationIn(name="foreign"))
    for integ_id in ["integ_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", foreign.id]:
        assert status_of(lambda: client.integration.get(app.id, integ_id)) == 404
        assert status_of(
            lambda: client.integration.update(app.id, integ_id, IntegrationUpdate(name="n"))
        ) == 404
        assert status_of(lambda: client.integration.delete(app.id, integ_id)) == 404
        assert status_of(lambda: client.integration.rotate_key(app.id, integ_id)) == 404
    assert client.integration.get(other.id, foreign.id) == foreign
    assert status_of(lambda: client.integration.list("app_missing")) == 404
