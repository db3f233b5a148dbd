"""Asymmetric signatures (Standard Webhooks ``v1a``, ed25519) through the official Svix SDK.

The key pair is made with the ``cryptography`` package, given to hookd as ``whsk_`` (seed then
public key, base64) when an endpoint is created or its secret rotated; the SDK's ``get_secret``
then shows only the ``whpk_`` public key, and each delivery is verified with that public key
alone, by ``cryptography``'s ed25519, not by hookd's code.
"""

from __future__ import annotations

import base64
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from svix.exceptions import HttpError, HTTPValidationError
from svix.models import ApplicationIn, EndpointIn, EndpointSecretRotateIn, MessageIn

from conftest import Received, unique


def key_pair() -> tuple[str, str]:
    """A new ed25519 pair as (``whsk_...``, ``whpk_...``)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "whsk_" + base64.b64encode(seed + public).decode(), "whpk_" + base64.b64encode(public).decode()


def v1a_verifies(request: Received, public_key: str) -> bool:
    """Whether any ``v1a`` entry of the delivery is ``public_key``'s signature of
    ``{webhook-id}.{webhook-timestamp}.{body}``, and the timestamp is recent."""
    assert public_key.startswith("whpk_"), public_key
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key[len("whpk_"):]))
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    assert abs(int(timestamp) - time.time()) < 300, timestamp
    content = f"{msg_id}.{timestamp}.".encode() + request.body
    for entry in request.headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature), content)
            return True
        except InvalidSignature:
            continue
    return False


def versions(request: Received) -> list[str]:
    return sorted(entry.partition(",")[0] for entry in request.headers["webhook-signature"].split(" "))


def test_an_endpoint_created_with_a_whsk_key_is_verified_with_its_public_key(client, receiver):
    app = client.application.create(ApplicationIn(name="asymmetric", uid=unique("asym")))
    secret_key, public_key = key_pair()
    endpoint = client.endpoint.create(
        app.id, EndpointIn(url=receiver.endpoint_url("/asym"), secret=secret_key)
    )
    # The SDK reads the public key; the signing half never comes back.
    assert client.endpoint.get_secret(app.id, endpoint.id).key == public_key

    client.message.create(app.id, MessageIn(event_type="asym.created", payload={"n": 1}))
    (request,) = receiver.wait_for(1, path="/asym")
    assert versions(request) == ["v1a"]
    assert v1a_verifies(request, public_key)
    # Another pair's public key does not verify (the check above is not vacuous).
    assert not v1a_verifies(request, key_pair()[1])


def test_rotating_between_whsec_and_whsk_signs_with_both_kinds(client, receiver):
    app = client.application.create(ApplicationIn(name="asymmetric rotation", uid=unique("asymrot")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url("/asymrot")))
    hmac_secret = client.endpoint.get_secret(app.id, endpoint.id).key
    assert hmac_secret.startswith("whsec_")

    secret_key, public_key = key_pair()
    rotated = client.endpoint.rotate_secret(app.id, endpoint.id, EndpointSecretRotateIn(key=secret_key))
    assert rotated.key == public_key
    assert client.endpoint.get_secret(app.id, endpoint.id).key == public_key
    msg = client.message.create(app.id, MessageIn(event_type="asym.rotated", payload={"r": 1}))
    (request,) = receiver.wait_for(1, path="/asymrot")
    assert versions(request) == ["v1", "v1a"]
    assert v1a_verifies(request, public_key)
    # The old whsec_ still verifies, with the Standard Webhooks reference library.
    import standardwebhooks.webhooks as stdwh

    assert stdwh.Webhook(hmac_secret).verify(request.body, request.headers) == {"r": 1}
    assert request.headers["webhook-id"] == msg.id

    # And back to a symmetric secret: the key pair keeps signing through its grace period.
    new_hmac = "whsec_" + base64.b64encode(b"k" * 32).decode()
    client.endpoint.rotate_secret(app.id, endpoint.id, EndpointSecretRotateIn(key=new_hmac))
    assert client.endpoint.get_secret(app.id, endpoint.id).key == new_hmac
    client.message.create(app.id, MessageIn(event_type="asym.back", payload={"r": 2}))
    requests = receiver.wait_for(2, path="/asymrot")
    assert v1a_verifies(requests[1], public_key)
    assert stdwh.Webhook(new_hmac).verify(requests[1].body, requests[1].headers) == {"r": 2}


@pytest.mark.parametrize(
    "bad",
    [
        "public",  # a whpk_ public key cannot sign
        "mismatched",  # the public half of another pair
        "seed-only",  # 32 bytes, not the 64-byte pair
        "whsk_not base64!",
    ],
)
def test_bad_whsk_keys_are_refused_with_422(client, receiver, bad):
    app = client.application.create(ApplicationIn(name="asymmetric bad", uid=unique("asymbad")))
    endpoint = client.endpoint.create(app.id, EndpointIn(url=receiver.endpoint_url("/asymbad")))
    before = client.endpoint.get_secret(app.id, endpoint.id).key
    secret_key, public_key = key_pair()
    raw = base64.b64decode(secret_key[len("whsk_"):])
    key = {
        "public": public_key,
        "mismatched": "whsk_" + base64.b64encode(raw[:32] + base64.b64decode(key_pair()[1][5:])).decode(),
        "seed-only": "whsk_" + base64.b64encode(raw[:32]).decode(),
    }.get(bad, bad)
    with pytest.raises((HttpError, HTTPValidationError)) as refused:
        client.endpoint.rotate_secret(app.id, endpoint.id, EndpointSecretRotateIn(key=key))
    assert refused.value.status_code == 422
    assert client.endpoint.get_secret(app.id, endpoint.id).key == before
