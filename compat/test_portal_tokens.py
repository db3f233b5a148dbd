"""Portal tokens issued and used through the official Svix Python SDK.

``authentication.app_portal_access`` issues a token (creating the application inline), the token
works as an SDK token for its own application and is refused for another one, ``expire_all`` with
``session_ids`` ends just that session's tokens, and ``logout`` ends the token that calls it.
"""

from __future__ import annotations

import pytest
import svix
from svix.exceptions import HttpError
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
