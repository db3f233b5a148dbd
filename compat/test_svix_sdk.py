"""hookd driven by the official Svix Python SDK, deliveries checked with the real verifiers.

Every API call goes through ``svix.Svix`` unless the SDK cannot express it (raw calls use httpx and
say why). Every delivery is verified with both ``standardwebhooks.webhooks.Webhook`` and svix's own
``svix.webhooks.Webhook``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Callable, List, Optional, TypeVar

import pytest
import standardwebhooks.webhooks as stdwh
import svix.webhooks
from svix.api import (
    ApplicationListOptions,
    EndpointGetStatsOptions,
    EndpointListOptions,
    EventTypeListOptions,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageCreateOptions,
    MessageGetOptions,
    MessageListOptions,
)
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import (
    ApplicationIn,
    ApplicationPatch,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointPatch,
    EndpointSecretRotateIn,
    EndpointUpsertIn,
    EventTypeIn,
    EventTypePatch,
    EventTypeUpsertIn,
    MessageAttemptTriggerType,
    MessageIn,
    MessageStatus,
    MessageStatusText,
)

from conftest import Hookd, Received, Receiver, unique

T = TypeVar("T")

DELIVERY_TIMEOUT_S = 15.0
# Three attempts with a 1s,1s schedule plus jitter and the delivery itself.
RETRY_TIMEOUT_S = 25.0


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def poll(fn: Callable[[], T], what: str, timeout: float = DELIVERY_TIMEOUT_S, interval: float = 0.1) -> T:
    """Calls ``fn`` until it returns something truthy; fails with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


def make_app(client: svix.Svix, **kwargs):
    uid = kwargs.pop("uid", unique("app"))
    return client.application.create(ApplicationIn(name=kwargs.pop("name", f"compat {uid}"), uid=uid, **kwargs))


def make_endpoint(client: svix.Svix, app_id: str, url: str, **kwargs):
    endpoint = client.endpoint.create(app_id, EndpointIn(url=url, **kwargs))
    secret = client.endpoint.get_secret(app_id, endpoint.id).key
    return endpoint, secret


def ensure_event_type(client: svix.Svix, name: str) -> None:
    try:
        client.event_type.create(EventTypeIn(name=name, description=f"compat {name}"))
    except HttpError as error:
        if error.status_code != 409:
            raise


def signatures(header: str) -> List[str]:
    return [part for part in header.split(" ") if part]


def verify_delivery(request: Received, secret: str, msg_id: str, payload: dict) -> None:
    """The request is a signed Standard Webhooks delivery of ``payload`` as message ``msg_id``."""
    h = request.headers
    assert request.method == "POST"
    assert h.get("webhook-id") == msg_id, h
    assert h.get("svix-id") == msg_id, h
    assert h.get("webhook-timestamp") and h.get("webhook-timestamp") == h.get("svix-timestamp"), h
    assert h.get("webhook-signature") and h.get("webhook-signature") == h.get("svix-signature"), h
    assert abs(int(h["webhook-timestamp"]) - time.time()) < 300
    assert h.get("content-type", "").startswith("application/json"), h
    assert all(sig.startswith("v1,") for sig in signatures(h["webhook-signature"])), h
    assert json.loads(request.body) == payload

    # Both libraries, with both header families present ...
    assert stdwh.Webhook(secret).verify(request.body, h) == payload
    svix.webhooks.Webhook(secret).verify(request.body, h)
    # ... and each header family on its own.
    only_webhook = {k: v for k, v in h.items() if not k.startswith("svix-")}
    only_svix = {k: v for k, v in h.items() if not k.startswith("webhook-")}
    assert stdwh.Webhook(secret).verify(request.body, only_webhook) == payload
    svix.webhooks.Webhook(secret).verify(request.body, only_svix)


def expected_signature(secret: str, request: Received) -> str:
    ts = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), tz=timezone.utc)
    return stdwh.Webhook(secret).sign(request.headers["webhook-id"], ts, request.body.decode())


def attempts_by_msg(client: svix.Svix, app_id: str, msg_id: str, **options):
    return client.message_attempt.list_by_msg(
        app_id, msg_id, MessageAttemptListByMsgOptions(**options)
    ).data


def wait_attempts(client: svix.Svix, app_id: str, msg_id: str, n: int, timeout: float = DELIVERY_TIMEOUT_S):
    """Waits until ``n`` finished attempts (not pending/sending) are recorded for the message."""

    def finished():
        data = attempts_by_msg(client, app_id, msg_id)
        done = [a for a in data if a.status not in (MessageStatus.PENDING, MessageStatus.SENDING)]
        return data if len(done) >= n else None

    data = poll(finished, f"{n} recorded attempt(s) for {msg_id}", timeout)
    return sorted(data, key=lambda a: a.timestamp)


def raises_http(status: int, fn: Callable[[], object]) -> HttpError:
    with pytest.raises(HttpError) as info:
        fn()
    assert info.value.status_code == status, (info.value.status_code, info.value.code, info.value.detail)
    return info.value


def raw_json(response) -> dict:
    """The body of a raw response, which must be JSON (the SDK parses every error body)."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.headers.get("content-type"),
        response.text[:300],
    )
    return response.json()


@pytest.fixture
def app(client):
    return make_app(client)


# --------------------------------------------------------------------------------------------
# health
# --------------------------------------------------------------------------------------------


def test_health(client):
    assert client.health.get() is None


# --------------------------------------------------------------------------------------------
# applications
# --------------------------------------------------------------------------------------------


def test_application_create_and_get_by_id_and_uid(client):
    uid = unique("app")
    created = client.application.create(
        ApplicationIn(name="Compat App", uid=uid, metadata={"team": "compat"}, throttle_rate=100)
    )
    assert created.id and created.id != uid
    assert created.name == "Compat App"
    assert created.uid == uid
    assert created.metadata == {"team": "compat"}
    assert created.throttle_rate == 100
    assert created.created_at.tzinfo is not None and created.updated_at.tzinfo is not None

    by_id = client.application.get(created.id)
    by_uid = client.application.get(uid)
    assert by_id.id == by_uid.id == created.id
    assert by_uid.name == "Compat App"
    assert by_uid.metadata == {"team": "compat"}


def test_application_create_minimal_has_empty_metadata(client):
    created = client.application.create(ApplicationIn(name="no uid"))
    assert created.uid is None
    assert created.metadata == {}
    assert client.application.get(created.id).name == "no uid"


def test_application_duplicate_uid_conflicts(client):
    uid = unique("app")
    client.application.create(ApplicationIn(name="first", uid=uid))
    raises_http(409, lambda: client.application.create(ApplicationIn(name="second", uid=uid)))
    assert client.application.get(uid).name == "first"


def test_application_list_paginates(client):
    created = {make_app(client).id for _ in range(3)}
    seen = []
    iterator: Optional[str] = None
    for _ in range(1000):
        page = client.application.list(ApplicationListOptions(limit=2, iterator=iterator))
        assert len(page.data) <= 2
        seen.extend(a.id for a in page.data)
        if page.done:
            break
        assert page.iterator, "a page that is not done must carry an iterator"
        iterator = page.iterator
    else:
        pytest.fail("application list never reported done")
    assert created <= set(seen)
    assert len(seen) == len(set(seen)), "pagination returned an application twice"


def test_application_upsert_updates_existing(client, app):
    updated = client.application.upsert(
        app.id, ApplicationIn(name="renamed", uid=app.uid, metadata={"v": "2"})
    )
    assert updated.id == app.id
    assert updated.name == "renamed"
    assert updated.metadata == {"v": "2"}
    assert updated.updated_at >= app.updated_at
    assert client.application.get(app.uid).name == "renamed"


def test_application_upsert_creates_missing_uid(client):
    # `upsert` is the SDK's PUT /api/v1/app/{app_id}: "Create or update an application."
    uid = unique("app")
    created = client.application.upsert(uid, ApplicationIn(name="via put", uid=uid))
    assert created.uid == uid
    assert client.application.get(uid).id == created.id


def test_application_patch_changes_only_given_fields(client):
    app = make_app(client, metadata={"keep": "me"})
    patched = client.application.patch(app.id, ApplicationPatch(name="patched"))
    assert patched.name == "patched"
    assert patched.uid == app.uid
    assert patched.metadata == {"keep": "me"}

    patched = client.application.patch(app.uid, ApplicationPatch(metadata={"new": "1"}))
    assert patched.name == "patched"
    assert patched.metadata == {"new": "1"}


def test_application_delete(client):
    app = make_app(client)
    assert client.application.delete(app.id) is None
    error = raises_http(404, lambda: client.application.get(app.id))
    assert error.code
    raises_http(404, lambda: client.application.get(app.uid))

    by_uid = make_app(client)
    client.application.delete(by_uid.uid)
    raises_http(404, lambda: client.application.get(by_uid.id))


def test_application_get_or_create(client):
    uid = unique("app")
    first = client.application.get_or_create(ApplicationIn(name="original", uid=uid))
    assert first.uid == uid and first.name == "original"
    second = client.application.get_or_create(ApplicationIn(name="other name", uid=uid))
    assert second.id == first.id
    assert second.name == "original"


# --------------------------------------------------------------------------------------------
# endpoints
# --------------------------------------------------------------------------------------------


def test_endpoint_create_get_list(client, app, receiver):
    et = unique("compat") + ".created"
    ensure_event_type(client, et)
    ep_uid = unique("ep")
    endpoint = client.endpoint.create(
        app.id,
        EndpointIn(
            url=receiver.endpoint_url("/hook"),
            uid=ep_uid,
            description="the endpoint",
            event_types=[et],
            channels=["project_1"],
            metadata={"owner": "compat"},
            headers={"X-Compat": "yes"},
            throttle_rate=10,
        ),
    )
    assert endpoint.id and endpoint.id != ep_uid
    assert endpoint.uid == ep_uid
    assert endpoint.url == receiver.endpoint_url("/hook")
    assert endpoint.description == "the endpoint"
    assert endpoint.event_types == [et]
    assert endpoint.channels == ["project_1"]
    assert endpoint.metadata == {"owner": "compat"}
    assert endpoint.throttle_rate == 10
    assert not endpoint.disabled
    assert endpoint.created_at.tzinfo is not None

    for app_ref in (app.id, app.uid):
        for ep_ref in (endpoint.id, ep_uid):
            got = client.endpoint.get(app_ref, ep_ref)
            assert got.id == endpoint.id
            assert got.event_types == [et]
            assert got.channels == ["project_1"]
            assert got.metadata == {"owner": "compat"}

    headers = client.endpoint.get_headers(app.id, endpoint.id)
    assert {k.lower(): v for k, v in headers.headers.items()} == {"x-compat": "yes"}

    listed = client.endpoint.list(app.id)
    assert [e.id for e in listed.data] == [endpoint.id]
    assert listed.done is True


def test_endpoint_minimal_defaults(client, app, receiver):
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url("/min")))
    assert endpoint.description == ""
    assert endpoint.metadata == {}
    assert endpoint.uid is None
    assert not endpoint.event_types
    assert not endpoint.channels


def test_endpoint_list_paginates(client, app, receiver):
    created = [client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url(f"/p{i}"))).id for i in range(5)]
    seen = []
    iterator = None
    for _ in range(10):
        page = client.endpoint.list(app.id, EndpointListOptions(limit=2, iterator=iterator))
        assert len(page.data) <= 2
        seen.extend(e.id for e in page.data)
        if page.done:
            break
        iterator = page.iterator
        assert iterator
    else:
        pytest.fail("endpoint list never reported done")
    assert sorted(seen) == sorted(created)


def test_endpoint_accepts_legacy_filter_types(hookd: Hookd, client, app, receiver):
    # Raw call: the SDK always sends `eventTypes`; older SDKs and the Svix docs send `filterTypes`.
    et = unique("compat") + ".legacy"
    ensure_event_type(client, et)
    with hookd.http() as http:
        response = http.post(
            f"/api/v1/app/{app.id}/endpoint",
            json={"url": receiver.endpoint_url("/legacy"), "filterTypes": [et]},
        )
    assert response.is_success, response.text
    ep_id = raw_json(response)["id"]
    assert client.endpoint.get(app.id, ep_id).event_types == [et]


def test_endpoint_upsert_replaces(client, app, receiver):
    et = unique("compat") + ".put"
    ensure_event_type(client, et)
    endpoint = client.endpoint.create(
        app.id,
        EndpointIn(
            url=receiver.endpoint_url("/before"),
            uid=unique("ep"),
            description="before",
            channels=["c1"],
            metadata={"a": "1"},
        ),
    )
    updated = client.endpoint.upsert(
        app.id,
        endpoint.id,
        EndpointUpsertIn(
            url=receiver.endpoint_url("/after"),
            uid=endpoint.uid,
            description="after",
            event_types=[et],
            metadata={"b": "2"},
        ),
    )
    assert updated.id == endpoint.id
    assert updated.url == receiver.endpoint_url("/after")
    assert updated.description == "after"
    assert updated.event_types == [et]
    assert updated.metadata == {"b": "2"}
    # PUT is a full replacement: `channels` was not sent, so it is cleared.
    assert not updated.channels
    got = client.endpoint.get(app.id, endpoint.uid)
    assert got.url == receiver.endpoint_url("/after") and got.description == "after"


def test_endpoint_patch(client, app, receiver):
    et = unique("compat") + ".patch"
    ensure_event_type(client, et)
    endpoint = client.endpoint.create(
        app.id,
        EndpointIn(
            url=receiver.endpoint_url("/patch"),
            description="orig",
            event_types=[et],
            channels=["c1"],
            metadata={"k": "v"},
        ),
    )
    patched = client.endpoint.patch(app.id, endpoint.id, EndpointPatch(description="patched"))
    assert patched.description == "patched"
    assert patched.url == endpoint.url
    assert patched.event_types == [et]
    assert patched.channels == ["c1"]
    assert patched.metadata == {"k": "v"}

    patched = client.endpoint.patch(app.id, endpoint.id, EndpointPatch(disabled=True, channels=["c2"]))
    assert patched.disabled is True
    assert patched.channels == ["c2"]
    assert patched.description == "patched"

    # An explicit null clears a nullable field.
    patched = client.endpoint.patch(app.id, endpoint.id, EndpointPatch(event_types=None))
    assert not patched.event_types
    assert client.endpoint.get(app.id, endpoint.id).description == "patched"


def test_endpoint_delete(client, app, receiver):
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url("/del"), uid=unique("ep")))
    assert client.endpoint.delete(app.id, endpoint.uid) is None
    raises_http(404, lambda: client.endpoint.get(app.id, endpoint.id))
    assert client.endpoint.list(app.id).data == []


def test_endpoint_secret_format(client, app, receiver):
    endpoint, secret = make_endpoint(client, app.id, receiver.endpoint_url("/s"))
    assert secret.startswith("whsec_")
    raw = base64.b64decode(secret[len("whsec_"):])
    assert 24 <= len(raw) <= 64
    assert client.endpoint.get_secret(app.uid, endpoint.id).key == secret


def test_endpoint_create_with_given_secret(client, app, receiver):
    given = "whsec_" + base64.b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode()
    endpoint, secret = make_endpoint(client, app.id, receiver.endpoint_url("/given"), secret=given)
    assert secret == given
    msg = client.message.create(app.id, MessageIn(event_type="given.secret", payload={"n": 1}))
    (request,) = receiver.wait_for(1, path="/given")
    verify_delivery(request, given, msg.id, {"n": 1})


def test_endpoint_credential_headers_are_sensitive(client, app, receiver):
    endpoint, secret = make_endpoint(
        client, app.id, receiver.endpoint_url("/sensitive"), headers={"Authorization": "Bearer hidden", "X-Team": "core"}
    )
    out = client.endpoint.get_headers(app.id, endpoint.id)
    assert out.headers == {"X-Team": "core"}
    assert list(out.sensitive) == ["Authorization"]

    client.message.create(app.id, MessageIn(event_type="sensitive.test", payload={"s": True}))
    (request,) = receiver.wait_for(1, path="/sensitive")
    assert request.headers.get("authorization") == "Bearer hidden"


def test_endpoint_headers(client, app, receiver):
    endpoint, secret = make_endpoint(client, app.id, receiver.endpoint_url("/h"), headers={"X-First": "1"})
    out = client.endpoint.get_headers(app.id, endpoint.id)
    assert {k.lower(): v for k, v in out.headers.items()} == {"x-first": "1"}
    assert isinstance(out.sensitive, list)

    assert client.endpoint.set_headers(app.id, endpoint.id, EndpointHeadersIn(headers={"X-A": "a", "X-B": "b"})) is None
    out = client.endpoint.get_headers(app.id, endpoint.id)
    assert {k.lower(): v for k, v in out.headers.items()} == {"x-a": "a", "x-b": "b"}

    assert (
        client.endpoint.patch_headers(
            app.id, endpoint.id, EndpointHeadersPatchIn(headers={"X-C": "c"}, delete_headers=["X-A"])
        )
        is None
    )
    out = client.endpoint.get_headers(app.uid, endpoint.id)
    assert {k.lower(): v for k, v in out.headers.items()} == {"x-b": "b", "x-c": "c"}

    msg = client.message.create(app.id, MessageIn(event_type="headers.test", payload={"h": True}))
    (request,) = receiver.wait_for(1, path="/h")
    verify_delivery(request, secret, msg.id, {"h": True})
    assert request.headers.get("x-b") == "b"
    assert request.headers.get("x-c") == "c"
    assert "x-a" not in request.headers


# --------------------------------------------------------------------------------------------
# event types
# --------------------------------------------------------------------------------------------


def test_event_type_crud(client):
    name = unique("compat") + ".user.created"
    created = client.event_type.create(EventTypeIn(name=name, description="A user was created"))
    assert created.name == name
    assert created.description == "A user was created"
    assert created.deprecated is False
    assert created.created_at.tzinfo is not None

    got = client.event_type.get(name)
    assert got.name == name and got.description == "A user was created"

    names = []
    iterator = None
    for _ in range(1000):
        page = client.event_type.list(EventTypeListOptions(limit=50, iterator=iterator))
        names.extend(e.name for e in page.data)
        if page.done:
            break
        iterator = page.iterator
    assert name in names

    updated = client.event_type.upsert(name, EventTypeUpsertIn(description="updated", deprecated=True))
    assert updated.description == "updated"
    assert updated.deprecated is True

    patched = client.event_type.patch(name, EventTypePatch(deprecated=False))
    assert patched.deprecated is False
    assert patched.description == "updated"

    raises_http(409, lambda: client.event_type.create(EventTypeIn(name=name, description="dup")))

    assert client.event_type.delete(name) is None
    # Svix archives on delete (expunge=true removes it); either way it leaves the default list.
    try:
        after = client.event_type.get(name)
        assert after.archived is True
    except HttpError as error:
        assert error.status_code == 404
    listed = client.event_type.list(EventTypeListOptions(limit=250)).data
    assert name not in [e.name for e in listed]


def test_event_type_unknown_is_404(client):
    raises_http(404, lambda: client.event_type.get(unique("compat") + ".missing"))


# --------------------------------------------------------------------------------------------
# messages and delivery
# --------------------------------------------------------------------------------------------


def test_message_create_get_list(client, app, receiver):
    payload = {"type": "invoice.paid", "id": "inv_1", "amount": 1200, "nested": {"ok": True}, "list": [1, 2]}
    created = client.message.create(
        app.id,
        MessageIn(event_type="invoice.paid", payload=payload, channels=["acme"], tags=["t1"]),
        MessageCreateOptions(with_content=True),
    )
    assert created.id.startswith("msg_") or created.id
    assert created.event_type == "invoice.paid"
    assert created.payload == payload
    assert created.channels == ["acme"]
    assert created.timestamp.tzinfo is not None

    # The SDK's default create asks for ?with_content=false; the payload field must still parse.
    lean = client.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"n": 2}))
    assert isinstance(lean.payload, dict)

    # SDK v2 sends ?with_content=false unless asked; the payload field must parse either way.
    assert isinstance(client.message.get(app.id, created.id).payload, dict)
    got = client.message.get(app.id, created.id, MessageGetOptions(with_content=True))
    assert got.id == created.id
    assert got.payload == payload
    assert got.event_type == "invoice.paid"
    assert got.channels == ["acme"]
    assert client.message.get(app.uid, created.id).id == created.id

    listed = client.message.list(app.id)
    assert {m.id for m in listed.data} == {created.id, lean.id}
    assert listed.done is True

    by_channel = client.message.list(app.id, MessageListOptions(channel="acme", with_content=True))
    assert [m.id for m in by_channel.data] == [created.id]
    assert by_channel.data[0].payload == payload

    raises_http(404, lambda: client.message.get(app.id, "msg_doesnotexist"))


def test_message_create_with_inline_application(client, receiver):
    # MessageIn.application creates the application (uid = the path id) if it does not exist.
    uid = unique("app")
    msg = client.message.create(
        uid, MessageIn(event_type="inline.app", payload={"i": 1}, application=ApplicationIn(name="Inline", uid=uid))
    )
    app = client.application.get(uid)
    assert app.uid == uid and app.name == "Inline"
    assert client.message.get(uid, msg.id).id == msg.id
    # A second message through the uid reuses the application.
    again = client.message.create(
        uid, MessageIn(event_type="inline.app", payload={"i": 2}, application=ApplicationIn(name="Other", uid=uid))
    )
    assert client.application.get(uid).id == app.id
    assert {m.id for m in client.message.list(app.id).data} == {msg.id, again.id}


def test_delivery_is_signed_and_verifies(client, app, receiver):
    endpoint, secret = make_endpoint(client, app.id, receiver.endpoint_url("/deliver"))
    payload = {"hello": "world", "unicode": "h\u00e9 \u2603", "n": 1.5}
    msg = client.message.create(app.id, MessageIn(event_type="user.signup", payload=payload))
    (request,) = receiver.wait_for(1, path="/deliver")
    verify_delivery(request, secret, msg.id, payload)
    assert len(signatures(request.headers["webhook-signature"])) == 1
    assert expected_signature(secret, request) == request.headers["webhook-signature"]

    # A wrong secret must not verify (the check above is not vacuous).
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(other).verify(request.body, request.headers)

    (attempt,) = wait_attempts(client, app.id, msg.id, 1)
    assert attempt.status == MessageStatus.SUCCESS
    assert attempt.status_text == MessageStatusText.SUCCESS
    assert attempt.response_status_code == 200
    assert attempt.trigger_type == MessageAttemptTriggerType.SCHEDULED
    assert attempt.endpoint_id == endpoint.id
    assert attempt.msg_id == msg.id
    assert attempt.url == receiver.endpoint_url("/deliver")
    assert attempt.response_duration_ms >= 0


def test_delivery_to_several_endpoints_shares_webhook_id(client, app, receiver):
    _, secret_a = make_endpoint(client, app.id, receiver.endpoint_url("/a"))
    _, secret_b = make_endpoint(client, app.id, receiver.endpoint_url("/b"))
    assert secret_a != secret_b
    msg = client.message.create(app.id, MessageIn(event_type="fan.out", payload={"x": 1}))
    (req_a,) = receiver.wait_for(1, path="/a")
    (req_b,) = receiver.wait_for(1, path="/b")
    verify_delivery(req_a, secret_a, msg.id, {"x": 1})
    verify_delivery(req_b, secret_b, msg.id, {"x": 1})
    with pytest.raises(stdwh.WebhookVerificationError):
        stdwh.Webhook(secret_b).verify(req_a.body, req_a.headers)


def test_retry_500_500_200(client, app, receiver):
    receiver.script("/flaky", [500, 500, 200])
    endpoint, secret = make_endpoint(client, app.id, receiver.endpoint_url("/flaky"))
    payload = {"retry": "me"}
    msg = client.message.create(app.id, MessageIn(event_type="retry.test", payload=payload))

    requests = receiver.wait_for(3, timeout=RETRY_TIMEOUT_S, path="/flaky")
    assert [r.status for r in requests] == [500, 500, 200]
    for request in requests:
        verify_delivery(request, secret, msg.id, payload)
    assert {r.headers["webhook-id"] for r in requests} == {msg.id}
    # The retry schedule is 1s,1s: each retry waits about a second.
    assert requests[1].time - requests[0].time >= 0.5
    assert requests[2].time - requests[1].time >= 0.5

    attempts = wait_attempts(client, app.id, msg.id, 3)
    assert len(attempts) == 3, attempts
    assert [a.status for a in attempts] == [MessageStatus.FAIL, MessageStatus.FAIL, MessageStatus.SUCCESS]
    assert [a.status_text for a in attempts] == [MessageStatusText.FAIL, MessageStatusText.FAIL, MessageStatusText.SUCCESS]
    assert [a.response_status_code for a in attempts] == [500, 500, 200]
    assert all(a.trigger_type == MessageAttemptTriggerType.SCHEDULED for a in attempts)
    assert all(a.endpoint_id == endpoint.id and a.msg_id == msg.id for a in attempts)
    assert '"ok":false' in attempts[0].response
    assert '"ok":true' in attempts[2].response

    by_endpoint = client.message_attempt.list_by_endpoint(app.id, endpoint.id).data
    assert sorted(a.id for a in by_endpoint) == sorted(a.id for a in attempts)
    assert client.message_attempt.list_by_endpoint(app.uid, endpoint.id).data

    # Filtering by the SDK's `status` option (sent as an integer).
    failed = attempts_by_msg(client, app.id, msg.id, status=MessageStatus.FAIL)
    assert sorted(a.id for a in failed) == sorted(a.id for a in attempts[:2])


def test_event_type_filter(client, app, receiver):
    prefix = unique("compat")
    wanted, other = f"{prefix}.a.b", f"{prefix}.c.d"
    ensure_event_type(client, wanted)
    ensure_event_type(client, other)
    filtered, filtered_secret = make_endpoint(client, app.id, receiver.endpoint_url("/filtered"), event_types=[wanted])
    everything, _ = make_endpoint(client, app.id, receiver.endpoint_url("/all"))

    skipped = client.message.create(app.id, MessageIn(event_type=other, payload={"which": "c.d"}))
    delivered = client.message.create(app.id, MessageIn(event_type=wanted, payload={"which": "a.b"}))

    (request,) = receiver.wait_for(1, path="/filtered")
    verify_delivery(request, filtered_secret, delivered.id, {"which": "a.b"})
    receiver.wait_for(2, path="/all")
    # The c.d message was attempted for the unfiltered endpoint only.
    skipped_attempts = wait_attempts(client, app.id, skipped.id, 1)
    assert [a.endpoint_id for a in skipped_attempts] == [everything.id]
    assert [r.headers["webhook-id"] for r in receiver.requests("/filtered")] == [delivered.id]
    delivered_attempts = wait_attempts(client, app.id, delivered.id, 2)
    assert sorted(a.endpoint_id for a in delivered_attempts) == sorted([filtered.id, everything.id])
    assert {a.msg_id for a in client.message_attempt.list_by_endpoint(app.id, filtered.id).data} == {delivered.id}


def test_channels_filter(client, app, receiver):
    in_channel, secret = make_endpoint(client, app.id, receiver.endpoint_url("/chan"), channels=["blue"])
    make_endpoint(client, app.id, receiver.endpoint_url("/any"))

    other_channel = client.message.create(app.id, MessageIn(event_type="ch.test", payload={"c": "red"}, channels=["red"]))
    no_channel = client.message.create(app.id, MessageIn(event_type="ch.test", payload={"c": None}))
    blue = client.message.create(app.id, MessageIn(event_type="ch.test", payload={"c": "blue"}, channels=["blue", "green"]))

    (request,) = receiver.wait_for(1, path="/chan")
    verify_delivery(request, secret, blue.id, {"c": "blue"})
    receiver.wait_for(3, path="/any")
    for msg in (other_channel, no_channel):
        attempts = wait_attempts(client, app.id, msg.id, 1)
        assert in_channel.id not in [a.endpoint_id for a in attempts]
    assert [r.headers["webhook-id"] for r in receiver.requests("/chan")] == [blue.id]


def test_disabled_endpoint_gets_nothing(client, app, receiver):
    disabled, _ = make_endpoint(client, app.id, receiver.endpoint_url("/off"), disabled=True)
    make_endpoint(client, app.id, receiver.endpoint_url("/on"))
    msg = client.message.create(app.id, MessageIn(event_type="disabled.test", payload={}))
    receiver.wait_for(1, path="/on")
    attempts = wait_attempts(client, app.id, msg.id, 1)
    assert disabled.id not in [a.endpoint_id for a in attempts]
    assert receiver.requests("/off") == []


def test_rotate_secret_signs_with_both_during_grace(client, app, receiver):
    endpoint, old_secret = make_endpoint(client, app.id, receiver.endpoint_url("/rot"))
    rotated = client.endpoint.rotate_secret(app.id, endpoint.id, EndpointSecretRotateIn())
    new_secret = client.endpoint.get_secret(app.id, endpoint.id).key
    assert new_secret != old_secret and new_secret.startswith("whsec_")
    assert rotated.key == new_secret

    msg = client.message.create(app.id, MessageIn(event_type="rotate.test", payload={"r": 1}))
    (request,) = receiver.wait_for(1, path="/rot")
    sigs = signatures(request.headers["webhook-signature"])
    assert len(sigs) == 2, request.headers["webhook-signature"]
    assert expected_signature(old_secret, request) in sigs
    assert expected_signature(new_secret, request) in sigs
    verify_delivery(request, old_secret, msg.id, {"r": 1})
    verify_delivery(request, new_secret, msg.id, {"r": 1})


def test_rotate_secret_to_given_key(client, app, receiver):
    endpoint, old_secret = make_endpoint(client, app.id, receiver.endpoint_url("/rotkey"))
    given = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    client.endpoint.rotate_secret(app.id, endpoint.id, EndpointSecretRotateIn(key=given))
    assert client.endpoint.get_secret(app.id, endpoint.id).key == given
    msg = client.message.create(app.id, MessageIn(event_type="rotate.key", payload={"k": 1}))
    (request,) = receiver.wait_for(1, path="/rotkey")
    verify_delivery(request, given, msg.id, {"k": 1})
    verify_delivery(request, old_secret, msg.id, {"k": 1})


def test_resend(client, app, receiver):
    endpoint, secret = make_endpoint(client, app.id, receiver.endpoint_url("/resend"))
    msg = client.message.create(app.id, MessageIn(event_type="resend.test", payload={"again": True}))
    receiver.wait_for(1, path="/resend")
    wait_attempts(client, app.id, msg.id, 1)

    result = client.message_attempt.resend(app.id, msg.id, endpoint.id)
    assert result is not None

    first, second = receiver.wait_for(2, path="/resend")
    verify_delivery(second, secret, msg.id, {"again": True})
    assert second.headers["webhook-id"] == first.headers["webhook-id"] == msg.id

    attempts = wait_attempts(client, app.id, msg.id, 2)
    assert [a.trigger_type for a in attempts] == [MessageAttemptTriggerType.SCHEDULED, MessageAttemptTriggerType.MANUAL]
    assert all(a.status == MessageStatus.SUCCESS for a in attempts)

    raises_http(404, lambda: client.message_attempt.resend(app.id, "msg_doesnotexist", endpoint.id))


def test_message_expunge_content(client, app, receiver):
    make_endpoint(client, app.id, receiver.endpoint_url("/expunge"))
    msg = client.message.create(app.id, MessageIn(event_type="expunge.test", payload={"card": "4242"}))
    wait_attempts(client, app.id, msg.id, 1)

    assert client.message.expunge_content(app.id, msg.id) is None
    expunged = client.message.get(app.id, msg.id)
    assert expunged.payload == {}
    assert expunged.event_type == "expunge.test"
    raises_http(404, lambda: client.message.expunge_content(app.id, "msg_doesnotexist"))


def test_list_attempted_destinations(client, app, receiver):
    ok, _ = make_endpoint(client, app.id, receiver.endpoint_url("/dest-ok"))
    failing, _ = make_endpoint(client, app.id, receiver.endpoint_url("/dest-fail"))
    receiver.script("/dest-fail", [500] * 10)
    msg = client.message.create(app.id, MessageIn(event_type="dest.test", payload={"n": 1}))

    def settled():
        data = client.message_attempt.list_attempted_destinations(app.id, msg.id).data
        by_id = {d.id: d for d in data}
        return by_id if len(by_id) == 2 and by_id[failing.id].status == MessageStatus.FAIL else None

    by_id = poll(settled, "both destinations settled", RETRY_TIMEOUT_S)
    assert by_id[ok.id].status == MessageStatus.SUCCESS
    assert by_id[ok.id].status_text == MessageStatusText.SUCCESS
    assert by_id[ok.id].url == receiver.endpoint_url("/dest-ok")
    assert by_id[failing.id].status_text == MessageStatusText.FAIL
    assert by_id[failing.id].created_at is not None


def test_endpoint_get_stats(client, app, receiver):
    endpoint, _ = make_endpoint(client, app.id, receiver.endpoint_url("/stats"))
    msg = client.message.create(app.id, MessageIn(event_type="stats.test", payload={"n": 1}))
    wait_attempts(client, app.id, msg.id, 1)

    stats = client.endpoint.get_stats(app.id, endpoint.id)
    assert (stats.success, stats.pending, stats.sending, stats.fail, stats.canceled) == (1, 0, 0, 0, 0)
    future = datetime(2999, 1, 1, tzinfo=timezone.utc)
    assert client.endpoint.get_stats(app.id, endpoint.id, EndpointGetStatsOptions(since=future)).success == 0


def test_message_attempt_get(client, app, receiver):
    make_endpoint(client, app.id, receiver.endpoint_url("/attempt-get"))
    msg = client.message.create(app.id, MessageIn(event_type="attempt.get", payload={"n": 1}))
    [listed] = wait_attempts(client, app.id, msg.id, 1)

    attempt = client.message_attempt.get(app.id, msg.id, listed.id)
    assert attempt.id == listed.id
    assert attempt.msg_id == msg.id
    assert attempt.status == MessageStatus.SUCCESS
    assert attempt.response_status_code == 200
    raises_http(404, lambda: client.message_attempt.get(app.id, msg.id, "atmpt_doesnotexist"))

    # The listing flags the SDK can send are accepted.
    flagged = attempts_by_msg(client, app.id, msg.id, with_content=False, expanded_statuses=True)
    assert [a.id for a in flagged] == [listed.id]


def test_message_event_id_dedupe(client, app, receiver):
    make_endpoint(client, app.id, receiver.endpoint_url("/dedupe"))
    event_id = unique("evt")
    first = client.message.create(app.id, MessageIn(event_type="dedupe.test", payload={"n": 1}, event_id=event_id))
    assert first.event_id == event_id
    # Svix answers a repeated eventId in the same application with 409 Conflict.
    raises_http(
        409,
        lambda: client.message.create(app.id, MessageIn(event_type="dedupe.test", payload={"n": 2}, event_id=event_id)),
    )
    receiver.wait_for(1, path="/dedupe")
    messages = client.message.list(app.id).data
    assert [m.id for m in messages] == [first.id]

    # The same eventId in another application is a different message.
    other_app = make_app(client)
    other = client.message.create(other_app.id, MessageIn(event_type="dedupe.test", payload={"n": 3}, event_id=event_id))
    assert other.id != first.id


def test_message_sdk_idempotency_key(client, app, receiver):
    make_endpoint(client, app.id, receiver.endpoint_url("/idem-sdk"))
    key = unique("idem")
    body = MessageIn(event_type="idem.test", payload={"i": 1})
    first = client.message.create(app.id, body, MessageCreateOptions(idempotency_key=key))
    second = client.message.create(app.id, body, MessageCreateOptions(idempotency_key=key))
    assert second.id == first.id
    assert [m.id for m in client.message.list(app.id).data] == [first.id]


def test_raw_idempotency_key_creates_one_message(hookd: Hookd, client, app, receiver):
    # Raw calls: the point is two byte-identical POSTs with one Idempotency-Key.
    make_endpoint(client, app.id, receiver.endpoint_url("/idem"))
    body = json.dumps({"eventType": "idem.raw", "payload": {"once": True}})
    headers = {"idempotency-key": unique("idem"), "content-type": "application/json"}
    with hookd.http() as http:
        first = http.post(f"/api/v1/app/{app.id}/msg", content=body, headers=headers)
        second = http.post(f"/api/v1/app/{app.id}/msg", content=body, headers=headers)
    assert first.is_success, first.text
    assert second.status_code == first.status_code
    assert raw_json(second) == raw_json(first)
    msg_id = first.json()["id"]
    assert [m.id for m in client.message.list(app.id).data] == [msg_id]
    receiver.wait_for(1, path="/idem")
    assert len(wait_attempts(client, app.id, msg_id, 1)) == 1

    # Application create is idempotent too (a repeated uid would otherwise be a 409).
    app_body = json.dumps({"name": "idem app", "uid": unique("app")})
    app_headers = {"idempotency-key": unique("idem"), "content-type": "application/json"}
    with hookd.http() as http:
        a = http.post("/api/v1/app", content=app_body, headers=app_headers)
        b = http.post("/api/v1/app", content=app_body, headers=app_headers)
    assert a.is_success and b.status_code == a.status_code, (a.text, b.text)
    assert raw_json(a)["id"] == raw_json(b)["id"]


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/hook", ""])
def test_invalid_endpoint_url_is_validation_error(client, app, url):
    with pytest.raises(HTTPValidationError) as info:
        client.endpoint.create(app.id, EndpointIn(url=url))
    error = info.value
    assert error.status_code == 422
    assert error.detail, "422 must carry a non-empty detail list"
    assert any("url" in [str(part) for part in item.loc] for item in error.detail), error.to_dict()
    assert all(item.msg and item.type for item in error.detail)
    assert client.endpoint.list(app.id).data == []


def test_unknown_application_is_404(client, receiver):
    missing = "app_" + uuid.uuid4().hex
    error = raises_http(404, lambda: client.application.get(missing))
    assert error.code == "not_found"
    assert error.detail
    raises_http(404, lambda: client.endpoint.list(missing))
    raises_http(404, lambda: client.endpoint.create(missing, EndpointIn(url=receiver.endpoint_url("/x"))))
    raises_http(404, lambda: client.message.create(missing, MessageIn(event_type="x.y", payload={})))
    raises_http(404, lambda: client.message.list(missing))
    raises_http(404, lambda: client.application.patch(missing, ApplicationPatch(name="x")))
    raises_http(404, lambda: client.application.delete(missing))


def test_unknown_endpoint_and_message_are_404(client, app):
    raises_http(404, lambda: client.endpoint.get(app.id, "ep_doesnotexist"))
    raises_http(404, lambda: client.endpoint.get_secret(app.id, "ep_doesnotexist"))
    raises_http(404, lambda: client.endpoint.delete(app.id, "ep_doesnotexist"))
    raises_http(404, lambda: client.message.get(app.id, "msg_doesnotexist"))
    raises_http(404, lambda: client.message_attempt.list_by_msg(app.id, "msg_doesnotexist"))


def test_wrong_token_is_401(hookd: Hookd, app):
    bad = svix.Svix("not-the-token", svix.SvixOptions(server_url=hookd.url))
    raises_http(401, lambda: bad.application.list())
    raises_http(401, lambda: bad.application.get(app.id))
    raises_http(401, lambda: bad.message.create(app.id, MessageIn(event_type="x.y", payload={})))


def test_missing_token_is_401_json(hookd: Hookd):
    # Raw call: the SDK always sends a token.
    with hookd.http(token="") as http:
        response = http.get("/api/v1/app")
    assert response.status_code == 401
    body = raw_json(response)
    assert body.get("code") and body.get("detail")


def test_malformed_and_mistyped_json_are_json_errors(hookd: Hookd, client, app):
    # Raw calls: the SDK cannot send malformed JSON or wrong types.
    with hookd.http() as http:
        broken = http.post("/api/v1/app", content=b'{"name": ', headers={"content-type": "application/json"})
        mistyped = http.post("/api/v1/app", json={"name": 5})
        missing = http.post(f"/api/v1/app/{app.id}/msg", json={"payload": {}})
    for response in (broken, mistyped, missing):
        assert response.status_code in (400, 422), (response.status_code, response.text)
        body = raw_json(response)
        if response.status_code == 422:
            assert isinstance(body["detail"], list) and body["detail"], body
            assert all({"loc", "msg", "type"} <= set(item) for item in body["detail"]), body
        else:
            assert body.get("code") and body.get("detail"), body
    assert client.message.list(app.id).data == []


def test_oversize_payload_is_rejected_cleanly(client, app):
    big = {"blob": "x" * (1024 * 1024 + 1)}
    with pytest.raises(HttpError) as info:
        client.message.create(app.id, MessageIn(event_type="big.one", payload=big))
    assert info.value.status_code == 413, (info.value.status_code, info.value.code, info.value.detail)
    assert client.message.list(app.id).data == []


def test_endpoint_recover_and_background_task_get(client, app, receiver):
    from svix.api import BackgroundTaskListOptions
    from svix.models import BackgroundTaskStatus, BackgroundTaskType, RecoverIn, ReplayIn

    receiver.script("/recover", [500, 500, 500])
    endpoint, secret = make_endpoint(client, app.id, receiver.endpoint_url("/recover"))
    msg = client.message.create(app.id, MessageIn(event_type="recover.test", payload={"lost": True}))
    attempts = wait_attempts(client, app.id, msg.id, 3, timeout=RETRY_TIMEOUT_S)
    assert all(a.status == MessageStatus.FAIL for a in attempts)

    task = client.endpoint.recover(app.id, endpoint.id, RecoverIn(since=msg.timestamp))
    assert task.id.startswith("qtask_")
    assert task.task == BackgroundTaskType.ENDPOINT_RECOVER
    assert task.status in (BackgroundTaskStatus.RUNNING, BackgroundTaskStatus.FINISHED)

    def finished():
        current = client.background_task.get(task.id)
        return current if current.status == BackgroundTaskStatus.FINISHED else None

    done = poll(finished, "the recover task to finish")
    assert done.task == BackgroundTaskType.ENDPOINT_RECOVER
    assert done.data["messagesSent"] == 1

    requests = receiver.wait_for(4, path="/recover")
    verify_delivery(requests[3], secret, msg.id, {"lost": True})
    attempts = wait_attempts(client, app.id, msg.id, 4)
    assert attempts[-1].trigger_type == MessageAttemptTriggerType.MANUAL
    assert attempts[-1].status == MessageStatus.SUCCESS

    listed = client.background_task.list(BackgroundTaskListOptions(task=BackgroundTaskType.ENDPOINT_RECOVER))
    assert task.id in [t.id for t in listed.data]

    # replay_missing finds nothing to send: the endpoint got every message of the window.
    replay = client.endpoint.replay_missing(app.id, endpoint.id, ReplayIn(since=msg.timestamp))
    assert replay.task == BackgroundTaskType.ENDPOINT_REPLAY
    raises_http(404, lambda: client.background_task.get("qtask_doesnotexist"))
    raises_http(404, lambda: client.endpoint.recover(app.id, "ep_doesnotexist", RecoverIn(since=msg.timestamp)))
