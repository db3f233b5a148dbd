"""Portal tokens issued and used through the official Svix Python SDK.

``authentication.app_portal_access`` issues a token (creating the application inline), the token
works as an SDK token for its own application and is refused for another one, ``expire_all`` with
``session_ids`` ends just that session's tokens, and ``logout`` ends the token that calls it.
"""

from __future__ import annotations

import pytest
import svix
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import (
    ApplicationIn,
    ApplicationTokenExpireIn,
    AppPortalAccessIn,
    EndpointIn,
)

from conftest import Hookd, unique


def as_token(hookd: Hookd, token: str) -> svix.Svix:
    return svix.Svix(token, svix.SvixOptions(server_url=hookd.url))


def status_of(call) -> int:
    with pytest.raises(HttpError) as refused:
        call()
    return refused.value.status_code


def test_portal_token_reaches_its_own_application_only(hookd: Hookd, client: svix.Svix) -> None:
    uid = unique("portal")
    other = client.application.create(ApplicationIn(name="other", uid=unique("other")))
    access = client.authentication.app_portal_access(
        uid,
        AppPortalAccessIn(application=ApplicationIn(name="Portal tenant"), expiry=3600),
    )
    assert access.token.startswith("appsk_")
    assert access.url == f"{hookd.url}/portal/login#token={access.token}"

    portal = as_token(hookd, access.token)
    own = portal.application.get(uid)
    assert own.name == "Portal tenant"
    endpoint = portal.endpoint.create(uid, EndpointIn(url="https://example.com/hook"))
    assert [e.id for e in portal.endpoint.list(uid).data] == [endpoint.id]
    assert portal.event_type.list().data is not None, "the catalogue is readable"

    assert status_of(lambda: portal.endpoint.list(other.id)) == 403
    assert status_of(lambda: portal.application.list()) == 403
    assert status_of(lambda: portal.application.create(ApplicationIn(name="x"))) == 403


def test_read_only_portal_token_cannot_change_anything(hookd: Hookd, client: svix.Svix) -> None:
    app = client.application.create(ApplicationIn(name="ro", uid=unique("ro")))
    access = client.authentication.app_portal_access(app.id, AppPortalAccessIn(read_only=True))
    portal = as_token(hookd, access.token)
    assert portal.endpoint.list(app.id).data == []
    assert status_of(
        lambda: portal.endpoint.create(app.id, EndpointIn(url="https://example.com/hook"))
    ) == 403


def test_expire_all_by_session_and_logout(hookd: Hookd, client: svix.Svix) -> None:
    app = client.application.create(ApplicationIn(name="sessions", uid=unique("sessions")))
    first = client.authentication.app_portal_access(app.id, AppPortalAccessIn(session_id="one"))
    second = client.authentication.app_portal_access(app.id, AppPortalAccessIn(session_id="two"))
    client.authentication.expire_all(app.id, ApplicationTokenExpireIn(session_ids=["one"]))
    assert status_of(lambda: as_token(hookd, first.token).application.get(app.id)) == 401
    portal = as_token(hookd, second.token)
    assert portal.application.get(app.id).id == app.id

    portal.authentication.logout()
    assert status_of(lambda: portal.application.get(app.id)) == 401
    assert status_of(lambda: client.authentication.logout()) == 403, "admin is not logged out"

    third = client.authentication.app_portal_access(app.id, AppPortalAccessIn())
    client.authentication.expire_all(app.id, ApplicationTokenExpireIn())
    assert status_of(lambda: as_token(hookd, third.token).application.get(app.id)) == 401


def test_feature_flags_and_capabilities_through_the_sdk(hookd: Hookd, client: svix.Svix) -> None:
    """``AppPortalAccessIn(feature_flags=..., capabilities=...)`` as the SDK sends it: a flagged
    type is hidden from a token without its flag, and capabilities bound what the token does."""
    from svix.models import AppPortalCapability, EndpointPatch, EventTypeIn

    flag = unique("flag").replace("_", "-")
    flagged = unique("flagged.type").replace("_", "-")
    plain = unique("plain.type").replace("_", "-")
    client.event_type.create(EventTypeIn(name=flagged, description="d", feature_flags=[flag]))
    client.event_type.create(EventTypeIn(name=plain, description="d"))
    app = client.application.create(ApplicationIn(name="grants", uid=unique("grants")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url="https://example.com/hook"))

    unflagged = as_token(
        hookd,
        client.authentication.app_portal_access(app.id, AppPortalAccessIn()).token,
    )
    names = {event_type.name for event_type in unflagged.event_type.list().data}
    assert plain in names and flagged not in names
    assert status_of(lambda: unflagged.event_type.get(flagged)) == 404
    with pytest.raises(HTTPValidationError) as refused:
        unflagged.endpoint.create(
            app.id, EndpointIn(url="https://example.com/x", event_types=[flagged])
        )
    assert refused.value.detail[0].loc == ["body", "filterTypes"]

    access = client.authentication.app_portal_access(
        app.id,
        AppPortalAccessIn(
            feature_flags=[flag],
            capabilities=[AppPortalCapability.VIEW_BASE, AppPortalCapability.CREATE_ATTEMPTS],
        ),
    )
    limited = as_token(hookd, access.token)
    assert limited.event_type.get(flagged).name == flagged
    assert [e.id for e in limited.endpoint.list(app.id).data] == [endpoint.id]
    assert status_of(lambda: limited.endpoint.get_secret(app.id, endpoint.id)) == 403
    assert status_of(
        lambda: limited.endpoint.patch(app.id, endpoint.id, EndpointPatch(description="x"))
    ) == 403
    assert client.event_type.get(flagged).name == flagged, "the admin sees every type"

    with pytest.raises(HTTPValidationError) as refused:
        client.authentication.app_portal_access(
            app.id, AppPortalAccessIn(capabilities=[AppPortalCapability.CREATE_ATTEMPTS])
        )
    assert refused.value.detail[0].loc == ["body", "capabilities"]
