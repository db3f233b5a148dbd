"""Svix's read calls added for issue 14, driven by the official Python SDK: ``message.precheck``,
``endpoint.get_attempt_stats`` and ``message_attempt.list_attempted_messages``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from svix.api import EndpointGetAttemptStatsOptions, MessageAttemptListAttemptedMessagesOptions
from svix.exceptions import HTTPValidationError
from svix.models import EndpointPatch, MessageIn, MessagePrecheckIn, MessageStatus, MessageStatusText

from test_svix_sdk import app, make_endpoint, raises_http, wait_attempts  # noqa: F401


# --------------------------------------------------------------------------------------------
# message.precheck
# --------------------------------------------------------------------------------------------


def test_message_precheck_follows_the_endpoints_filters(client, app, receiver):
    paid = MessagePrecheckIn(event_type="precheck.paid")
    assert client.message.precheck(app.id, paid).active is False

    endpoint, _ = make_endpoint(
        client,
        app.id,
        receiver.endpoint_url("/precheck"),
        filter_types=["precheck.voided"],
        channels=["eu"],
    )
    assert client.message.precheck(app.id, paid).active is False
    assert client.message.precheck(app.id, MessagePrecheckIn(event_type="precheck.voided")).active is False
    on_eu = MessagePrecheckIn(event_type="precheck.voided", channels=["us", "eu"])
    assert client.message.precheck(app.id, on_eu).active is True
    # By the application's uid too.
    assert client.message.precheck(app.uid, on_eu).active is True

    client.endpoint.patch(app.id, endpoint.id, EndpointPatch(disabled=True))
    assert client.message.precheck(app.id, on_eu).active is False
    # Nothing was sent or stored.
    assert client.message.list(app.id).data == []
    assert receiver.requests("/precheck") == []


def test_message_precheck_errors(client, app):
    with pytest.raises(HTTPValidationError) as info:
        client.message.precheck(app.id, MessagePrecheckIn(event_type="not a type!"))
    assert info.value.detail[0].loc == ["body", "eventType"]
    raises_http(404, lambda: client.message.precheck("app_doesnotexist", MessagePrecheckIn(event_type="a")))


# --------------------------------------------------------------------------------------------
# endpoint.get_attempt_stats
# --------------------------------------------------------------------------------------------


def test_endpoint_get_attempt_stats(client, app, receiver):
    endpoint, _ = make_endpoint(client, app.id, receiver.endpoint_url("/attempt-stats"))
    receiver.script("/attempt-stats", [500, 200])
    msg = client.message.create(app.id, MessageIn(event_type="attempt.stats", payload={"n": 1}))
    wait_attempts(client, app.id, msg.id, 2, timeout=25.0)

    stats = client.endpoint.get_attempt_stats(app.id, endpoint.id)
    assert (stats.success, stats.fail, stats.canceled) == (1, 1, 0)
    now = datetime.now(timezone.utc)
    # The window is widened to whole hours, so the last minute counts the whole hour.
    recent = client.endpoint.get_attempt_stats(
        app.id, endpoint.id, EndpointGetAttemptStatsOptions(since=now - timedelta(minutes=1), until=now)
    )
    assert (recent.success, recent.fail) == (1, 1)
    future = client.endpoint.get_attempt_stats(
        app.id, endpoint.id, EndpointGetAttemptStatsOptions(since=now + timedelta(hours=2))
    )
    assert (future.success, future.fail) == (0, 0)
    with pytest.raises(HTTPValidationError) as info:
        client.endpoint.get_attempt_stats(
            app.id, endpoint.id, EndpointGetAttemptStatsOptions(since=now, until=now - timedelta(hours=1))
        )
    assert info.value.detail[0].loc == ["query", "until"]
    raises_http(404, lambda: client.endpoint.get_attempt_stats(app.id, "ep_doesnotexist"))


# --------------------------------------------------------------------------------------------
# message_attempt.list_attempted_messages
# --------------------------------------------------------------------------------------------


def test_list_attempted_messages(client, app, receiver):
    endpoint, _ = make_endpoint(client, app.id, receiver.endpoint_url("/attempted"))
    first = client.message.create(app.id, MessageIn(event_type="attempted.one", payload={"n": 1}))
    second = client.message.create(
        app.id, MessageIn(event_type="attempted.two", payload={"n": 2}, channels=["eu"], tags=["t1"])
    )
    wait_attempts(client, app.id, first.id, 1)
    wait_attempts(client, app.id, second.id, 1)

    listed = client.message_attempt.list_attempted_messages(app.id, endpoint.id)
    assert [m.id for m in listed.data] == [second.id, first.id]
    newest = listed.data[0]
    assert newest.status == MessageStatus.SUCCESS
    assert newest.status_text == MessageStatusText.SUCCESS
    assert newest.event_type == "attempted.two"
    assert newest.channels == ["eu"] and newest.tags == ["t1"]
    assert newest.payload == {}, "the SDK asks without content by default"
    assert newest.next_attempt is None

    def options(**kwargs):
        return MessageAttemptListAttemptedMessagesOptions(**kwargs)

    with_content = client.message_attempt.list_attempted_messages(app.id, endpoint.id, options(with_content=True))
    assert with_content.data[0].payload == {"n": 2}
    page = client.message_attempt.list_attempted_messages(app.id, endpoint.id, options(limit=1))
    assert [m.id for m in page.data] == [second.id] and page.done is False
    rest = client.message_attempt.list_attempted_messages(
        app.id, endpoint.id, options(limit=1, iterator=page.iterator)
    )
    assert [m.id for m in rest.data] == [first.id]
    filtered = client.message_attempt.list_attempted_messages(
        app.id,
        endpoint.id,
        options(channel="eu", tag="t1", status=MessageStatus.SUCCESS, event_types=["attempted.two", "other"]),
    )
    assert [m.id for m in filtered.data] == [second.id]
    assert client.message_attempt.list_attempted_messages(
        app.id, endpoint.id, options(status=MessageStatus.FAIL)
    ).data == []
    assert client.message_attempt.list_attempted_messages(
        app.id, endpoint.id, options(status=MessageStatus.CANCELED, expanded_statuses=False)
    ).data == []
    before_second = client.message_attempt.list_attempted_messages(
        app.id, endpoint.id, options(before=second.timestamp)
    )
    assert [m.id for m in before_second.data] == [first.id]
    raises_http(404, lambda: client.message_attempt.list_attempted_messages(app.id, "ep_doesnotexist"))
