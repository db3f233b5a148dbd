"""Erasure, Svix's endpoint bulk replay and the usage statistics, driven by the official Svix
Python SDK: ``message.bulk_expunge_content``, ``message.expunge_all_contents``,
``message_attempt.expunge_content``, ``endpoint.bulk_replay``,
``statistics.aggregate_app_stats`` and ``statistics.aggregate_event_types``, each answer
parsed by the SDK's own models, the tasks polled with ``background_task.get``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from svix.api import MessageGetOptions
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import (
    ApplicationIn,
    AppUsageStatsIn,
    BackgroundTaskStatus,
    BackgroundTaskType,
    BulkExpungeContentsIn,
    BulkExpungeStatus,
    BulkReplayIn,
    EndpointIn,
    MessageIn,
)

from conftest import unique

TIMEOUT_S = 15.0


def wait_for(fn, what: str):
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def finished(client, task_id: str):
    def done():
        task = client.background_task.get(task_id)
        return task if task.status != BackgroundTaskStatus.RUNNING else None

    task = wait_for(done, f"task {task_id}")
    assert task.status == BackgroundTaskStatus.FINISHED, task
    return task


def new_app(client, receiver, event_types=None):
    app = client.application.create(ApplicationIn(name="erasure", uid=unique("app")))
    endpoint = client.endpoint.create(
        app.id, EndpointIn(url=receiver.url, uid="ep", event_types=event_types)
    )
    return app, endpoint


def payload(client, app_id: str, msg_id: str):
    # The SDK asks for `with_content=false` unless told otherwise.
    return client.message.get(app_id, msg_id, MessageGetOptions(with_content=True)).payload


def send(client, app_id: str, payload: dict, event_type: str = "invoice.paid", **kwargs):
    return client.message.create(app_id, MessageIn(event_type=event_type, payload=payload, **kwargs))


def test_bulk_expunge_content_by_id_and_uid(client, receiver):
    app, _ = new_app(client, receiver)
    first = send(client, app.id, {"secret": 1})
    second = send(client, app.id, {"secret": 2}, event_id=unique("order"))
    kept = send(client, app.id, {"secret": 3})

    out = client.message.bulk_expunge_content(
        app.id, BulkExpungeContentsIn(ids=[first.id, second.event_id, "msg_missing"])
    )
    assert out.results == {
        first.id: BulkExpungeStatus.EXPUNGED,
        second.event_id: BulkExpungeStatus.EXPUNGED,
        "msg_missing": BulkExpungeStatus.NOT_FOUND,
    }
    assert payload(client, app.id, first.id) == {}
    assert payload(client, app.id, second.id) == {}
    assert payload(client, app.id, kept.id) == {"secret": 3}

    with pytest.raises(HTTPValidationError):
        client.message.bulk_expunge_content(app.id, BulkExpungeContentsIn(ids=[]))
    assert payload(client, app.id, kept.id) == {"secret": 3}


def test_expunge_all_contents_is_a_task(client, receiver):
    app, _ = new_app(client, receiver)
    other, _ = new_app(client, receiver)
    messages = [send(client, app.id, {"n": n}) for n in range(3)]
    elsewhere = send(client, other.id, {"keep": True})

    started = client.message.expunge_all_contents(app.id)
    assert started.task == BackgroundTaskType.APPLICATION_PURGE_CONTENT
    task = finished(client, started.id)
    assert task.data["messagesPurged"] == 3
    for message in messages:
        assert payload(client, app.id, message.id) == {}
    assert payload(client, other.id, elsewhere.id) == {"keep": True}


def test_message_attempt_expunge_content(client, receiver):
    app, _ = new_app(client, receiver)
    message = send(client, app.id, {"n": 1})
    attempts = wait_for(
        lambda: client.message_attempt.list_by_msg(app.id, message.id).data, "an attempt"
    )
    attempt = attempts[0]
    assert attempt.response != ""

    client.message_attempt.expunge_content(app.id, message.id, attempt.id)
    assert client.message_attempt.get(app.id, message.id, attempt.id).response == ""
    assert payload(client, app.id, message.id) == {"n": 1}
    with pytest.raises(HttpError) as refused:
        client.message_attempt.expunge_content(app.id, message.id, "atmpt_missing")
    assert refused.value.status_code == 404


def test_endpoint_bulk_replay(client, receiver):
    app, endpoint = new_app(client, receiver)
    since = datetime.now(timezone.utc) - timedelta(minutes=5)
    paid = send(client, app.id, {"n": 1}, event_type="invoice.paid")
    send(client, app.id, {"n": 2}, event_type="user.created")
    # Both attempts recorded: each pair's latest delivery is finished, so a replay takes it.
    wait_for(
        lambda: len(client.message_attempt.list_by_endpoint(app.id, endpoint.id).data) == 2,
        "both attempts recorded",
    )

    started = client.endpoint.bulk_replay(
        app.id, endpoint.id, BulkReplayIn(since=since, event_types=["invoice.paid"])
    )
    assert started.task == BackgroundTaskType.ENDPOINT_BULK_REPLAY
    task = finished(client, started.id)
    assert task.data["messagesSent"] == 1
    receiver.wait_for(3)

    with pytest.raises(HTTPValidationError):
        client.endpoint.bulk_replay(app.id, endpoint.id, BulkReplayIn(since=since, channel="eu"))


def test_statistics_aggregate_app_stats_and_event_types(client, receiver):
    app, _ = new_app(client, receiver, event_types=["invoice.paid", "user.created"])
    send(client, app.id, {"n": 1})
    send(client, app.id, {"n": 2})
    now = datetime.now(timezone.utc)

    started = client.statistics.aggregate_app_stats(
        AppUsageStatsIn(
            since=now - timedelta(minutes=5),
            until=now + timedelta(minutes=5),
            app_ids=[app.uid, "app-that-does-not-exist"],
        )
    )
    assert started.task == BackgroundTaskType.APPLICATION_STATS
    assert started.unresolved_app_ids == ["app-that-does-not-exist"]
    task = finished(client, started.id)
    assert task.data["appStats"] == [
        {"appId": app.id, "appUid": app.uid, "messageDestinations": 2}
    ]

    started = client.statistics.aggregate_event_types()
    assert started.task == BackgroundTaskType.EVENT_TYPE_AGGREGATE
    task = finished(client, started.id)
    rows = [row for row in task.data["event_types"] if row["appId"] == app.id]
    assert rows == [
        {
            "appId": app.id,
            "explicitlySubscribedEventTypes": ["invoice.paid", "user.created"],
            "hasCatchAllEndpoint": False,
        }
    ]

    with pytest.raises(HTTPValidationError):
        client.statistics.aggregate_app_stats(
            AppUsageStatsIn(since=now, until=now - timedelta(minutes=1))
        )
