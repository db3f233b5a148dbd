"""Every query parameter the Svix Python SDK sends on hookd's listings, with its effect.

The SDK serializes its options itself (timestamps as ISO 8601 with an offset, lists joined with
commas, booleans as true/false, enums as their integers or names), so these calls check that
hookd's typed query structs read what the real client writes, and that each filter filters.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import svix
from svix.api import (
    ApplicationListOptions,
    BackgroundTaskListOptions,
    EndpointGetStatsOptions,
    EndpointListOptions,
    EventTypeListOptions,
    MessageAttemptListAttemptedDestinationsOptions,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageListOptions,
)
from svix.models import (
    ApplicationIn,
    BackgroundTaskStatus,
    BackgroundTaskType,
    EndpointIn,
    MessageIn,
    MessageStatus,
    Ordering,
    StatusCodeClass,
)

from conftest import Receiver, unique

DELIVERY_TIMEOUT_S = 15.0


def wait_for_attempts(client: svix.Svix, app_id: str, endpoint_id: str, count: int):
    """The endpoint's attempts once `count` are recorded (the receiver sees a request first)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while True:
        attempts = client.message_attempt.list_by_endpoint(app_id, endpoint_id).data
        if len(attempts) >= count or time.monotonic() > deadline:
            return attempts
        time.sleep(0.05)


def test_every_sdk_query_parameter_is_read_and_filters(client: svix.Svix, receiver: Receiver):
    app = client.application.create(ApplicationIn(name="query params", uid=unique("app")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url(unique("/q"))))
    tagged = client.message.create(
        app.id, MessageIn(event_type="order.created", payload={"n": 1}, channels=["eu"], tags=["vip"])
    )
    plain = client.message.create(app.id, MessageIn(event_type="order.paid", payload={"n": 2}))
    assert len(wait_for_attempts(client, app.id, endpoint.id, 2)) == 2
    now = datetime.now(timezone.utc)
    hour_ago, in_an_hour = now - timedelta(hours=1), now + timedelta(hours=1)

    def message_ids(**options):
        return [m.id for m in client.message.list(app.id, MessageListOptions(**options)).data]

    assert message_ids(event_types=["order.created"], channel="eu", tag="vip") == [tagged.id]
    assert sorted(message_ids(event_types=["order.created", "order.paid"])) == sorted([tagged.id, plain.id])
    assert message_ids(before=in_an_hour, after=hour_ago, limit=1) == [plain.id]
    assert message_ids(before=hour_ago) == []
    listed = client.message.list(app.id, MessageListOptions(with_content=False, tag="vip"))
    assert [m.payload for m in listed.data] == [{}]

    by_endpoint = client.message_attempt.list_by_endpoint(
        app.id,
        endpoint.id,
        MessageAttemptListByEndpointOptions(
            limit=10,
            status=MessageStatus.SUCCESS,
            status_code_class=StatusCodeClass.CODE2XX,
            channel="eu",
            tag="vip",
            event_types=["order.created"],
            before=in_an_hour,
            after=hour_ago,
            with_msg=True,
            with_content=True,
            expanded_statuses=True,
        ),
    )
    assert [a.msg_id for a in by_endpoint.data] == [tagged.id]
    assert by_endpoint.data[0].msg.payload == {"n": 1}
    failed = client.message_attempt.list_by_endpoint(
        app.id, endpoint.id, MessageAttemptListByEndpointOptions(status=MessageStatus.FAIL)
    )
    assert failed.data == []
    by_msg = client.message_attempt.list_by_msg(
        app.id,
        plain.id,
        MessageAttemptListByMsgOptions(
            endpoint_id=endpoint.id, status_code_class=StatusCodeClass.CODE2XX, with_content=False, limit=5
        ),
    )
    assert [a.msg_id for a in by_msg.data] == [plain.id]
    destinations = client.message_attempt.list_attempted_destinations(
        app.id, plain.id, MessageAttemptListAttemptedDestinationsOptions(limit=5)
    )
    assert [d.id for d in destinations.data] == [endpoint.id]

    stats = client.endpoint.get_stats(app.id, endpoint.id, EndpointGetStatsOptions(since=hour_ago, until=in_an_hour))
    assert stats.success == 2
    assert client.endpoint.get_stats(app.id, endpoint.id, EndpointGetStatsOptions(until=hour_ago)).success == 0

    endpoints = client.endpoint.list(app.id, EndpointListOptions(limit=1, order=Ordering.DESCENDING))
    assert [e.id for e in endpoints.data] == [endpoint.id]
    apps = client.application.list(
        ApplicationListOptions(limit=250, order=Ordering.ASCENDING, exclude_apps_with_no_endpoints=True)
    )
    assert app.id in [a.id for a in apps.data]
    client.event_type.list(EventTypeListOptions(limit=5, order=Ordering.ASCENDING, include_archived=True))
    tasks = client.background_task.list(
        BackgroundTaskListOptions(status=BackgroundTaskStatus.FINISHED, task=BackgroundTaskType.ENDPOINT_RECOVER)
    )
    assert all(task.task == BackgroundTaskType.ENDPOINT_RECOVER for task in tasks.data)
