"""Polling endpoints through the official Python SDK's ``message.poller``: ``poll``,
``consumer_poll`` and ``consumer_seek``. A polling endpoint is an endpoint created with the URL
``polling:``; it is never sent to, and its consumer pulls its messages in the order they were
committed."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from svix.api import MessagePollerConsumerPollOptions, MessagePollerPollOptions
from svix.exceptions import HTTPValidationError
from svix.models import EndpointIn, MessageIn, PollingEndpointConsumerSeekIn

from test_svix_sdk import app, make_endpoint, raises_http  # noqa: F401


def send(client, app_id: str, event_type: str, n: int, channels=None) -> str:
    message = client.message.create(
        app_id, MessageIn(event_type=event_type, payload={"n": n}, channels=channels)
    )
    return message.id


def test_poll_pages_the_endpoints_filtered_messages_in_order(client, app, receiver):
    sink = client.endpoint.create(
        app.id, EndpointIn(url="polling:", event_types=["poll.paid"], channels=["eu"])
    )
    assert sink.url == "polling:"
    push, _ = make_endpoint(client, app.id, receiver.endpoint_url("/beside-poller"))
    wanted = []
    for n in range(5):
        wanted.append(send(client, app.id, "poll.paid", n, ["eu"]))
        send(client, app.id, "poll.other", n, ["eu"])
        send(client, app.id, "poll.paid", n, ["us"])

    got, iterator = [], None
    while True:
        page = client.message.poller.poll(
            app.id, sink.id, MessagePollerPollOptions(limit=2, iterator=iterator)
        )
        assert len(page.data) <= 2
        got.extend(message.id for message in page.data)
        iterator = page.iterator
        if page.done:
            break
    assert got == wanted
    first = client.message.poller.poll(app.id, sink.id, MessagePollerPollOptions(limit=1)).data[0]
    assert first.event_type == "poll.paid"
    assert first.payload == {"n": 0}
    assert first.channels == ["eu"]
    # The poll's own filters, and its start after a time.
    only_first_two = client.message.poller.poll(
        app.id, sink.id, MessagePollerPollOptions(after=first.timestamp)
    )
    assert [message.id for message in only_first_two.data] == wanted[1:]

    # The push endpoint beside it got every message; the polling one was never sent to.
    deadline = time.monotonic() + 10
    while len(receiver.requests("/beside-poller")) < 15 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.requests("/beside-poller")) == 15
    assert client.message_attempt.list_by_endpoint(app.id, sink.id).data == []


def test_consumer_poll_keeps_the_position_and_seek_moves_it(client, app):
    sink = client.endpoint.create(app.id, EndpointIn(url="polling:", uid="poll-sink"))
    sent = [send(client, app.id, "poll.consumed", n) for n in range(5)]
    options = lambda iterator=None: MessagePollerConsumerPollOptions(limit=2, iterator=iterator)  # noqa: E731

    page = client.message.poller.consumer_poll(app.id, "poll-sink", "worker", options())
    assert [m.id for m in page.data] == sent[:2]
    # Without the iterator the position has not moved: the same page again.
    again = client.message.poller.consumer_poll(app.id, sink.id, "worker", options())
    assert [m.id for m in again.data] == sent[:2]
    # Presenting the iterator commits it and gives the next page.
    page = client.message.poller.consumer_poll(app.id, sink.id, "worker", options(page.iterator))
    assert [m.id for m in page.data] == sent[2:4]
    page = client.message.poller.consumer_poll(app.id, sink.id, "worker", options(page.iterator))
    assert [m.id for m in page.data] == sent[4:]
    assert page.done is True

    created = client.message.get(app.id, sent[2]).timestamp
    seek = client.message.poller.consumer_seek(
        app.id, sink.id, "worker", PollingEndpointConsumerSeekIn(after=created)
    )
    assert isinstance(seek.iterator, str) and seek.iterator
    page = client.message.poller.consumer_poll(
        app.id, sink.id, "worker", MessagePollerConsumerPollOptions(limit=10)
    )
    assert [m.id for m in page.data] == sent[3:]
    # A seek past everything: nothing until a new message.
    future = datetime.now(timezone.utc) + timedelta(days=1)
    client.message.poller.consumer_seek(app.id, sink.id, "worker", PollingEndpointConsumerSeekIn(after=future))
    assert client.message.poller.consumer_poll(app.id, sink.id, "worker").data == []


def test_poller_errors(client, app, receiver):
    sink = client.endpoint.create(app.id, EndpointIn(url="polling:"))
    push, _ = make_endpoint(client, app.id, receiver.endpoint_url("/not-a-poller"))
    with pytest.raises(HTTPValidationError) as info:
        client.message.poller.poll(app.id, sink.id, MessagePollerPollOptions(iterator="garbage!"))
    assert info.value.detail[0].loc == ["query", "iterator"]
    with pytest.raises(HTTPValidationError) as info:
        client.message.poller.consumer_poll(
            app.id, sink.id, "c", MessagePollerConsumerPollOptions(limit=251)
        )
    assert info.value.detail[0].loc == ["query", "limit"]
    raises_http(404, lambda: client.message.poller.poll(app.id, push.id))
    raises_http(404, lambda: client.message.poller.poll(app.id, "ep_doesnotexist"))
    raises_http(404, lambda: client.message.poller.consumer_poll("app_doesnotexist", sink.id, "c"))
    raises_http(
        404,
        lambda: client.message.poller.consumer_seek(
            app.id, push.id, "c", PollingEndpointConsumerSeekIn(after=datetime.now(timezone.utc))
        ),
    )
