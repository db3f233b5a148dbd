"""Writes cases.json: webhook requests signed, and judged, by the providers' own libraries.

Each case is one request (headers, body, query), the secrets a hookd source would hold, the time
"now", and the verdict of the provider's library given the same inputs: it accepts if the library
verifies the request with any of the secrets. Signatures are made by the libraries (never by
hookd's code), and every verdict, including those for tampered bodies, unknown secrets and stale
timestamps, is what the library said, with its clock pinned to the case's "now".

The Rust test `crates/webhook-signature/tests/signatures/provider_libraries.rs` runs every case
through hookd's verifier and fails if its verdict differs. `compat/test_provider_libraries.py`
regenerates the file and fails if it differs from the committed one, so the fixture is always
what the pinned libraries say today.

    python3 compat/provider_libraries/generate.py          # rewrite cases.json
    python3 compat/provider_libraries/generate.py --check  # exit 1 if cases.json is stale

Needs the packages in requirements.txt here, Node 20+, and `npm ci` run in this directory.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional
from unittest import mock

import slack_sdk.signature
import standardwebhooks.webhooks
import stripe
import svix.webhooks
from twilio.request_validator import RequestValidator

HERE = Path(__file__).resolve().parent
CASES_PATH = HERE / "cases.json"

NOW = 1_700_000_000
TOLERANCE = 300
BODIES = [
    '{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{}}}',
    '{"text":"h\u00e9llo \u2713 \\"quoted\\"","n":[1,2,3]}\n',
    "  not json at all, with trailing spaces  ",
]


class Cases:
    """Collects cases; each records the library's verdict over all of the case's secrets."""

    def __init__(self) -> None:
        self.cases: List[dict] = []

    def add(
        self,
        provider: str,
        name: str,
        secrets: List[str],
        headers: Dict[str, str],
        body: str,
        verdict: Callable[[str], bool],
        now: int = NOW,
        **extra: str,
    ) -> None:
        accepts = any(verdict(secret) for secret in secrets)
        self.cases.append(
            {
                "provider": provider,
                "name": name,
                "secrets": secrets,
                "headers": headers,
                "body": body,
                "now": now,
                **extra,
                "library_accepts": accepts,
            }
        )


# ------------------------------------------------------------------------------------------------
# Stripe: stripe.WebhookSignature, with time.time pinned.
# ------------------------------------------------------------------------------------------------

STRIPE_OLD = "whsec_stripe_old_1f9a8e2c7b"
STRIPE_NEW = "whsec_stripe_new_5d3c0b6a94"


def stripe_accepts(secret: str, header: Optional[str], body: str, now: int) -> bool:
    with mock.patch("time.time", return_value=float(now)):
        try:
            stripe.WebhookSignature.verify_header(body, header, secret, TOLERANCE)
            return True
        except stripe.SignatureVerificationError:
            return False


def stripe_cases(cases: Cases) -> None:
    sign = stripe.WebhookSignature.generate_signature_header

    def add(name, secrets, header, body, now=NOW):
        headers = {} if header is None else {"Stripe-Signature": header}
        cases.add("stripe", name, secrets, headers, body,
                  lambda secret: stripe_accepts(secret, header, body, now), now)

    for index, body in enumerate(BODIES):
        header = sign(body, STRIPE_NEW, timestamp=NOW)
        add(f"body {index}: signed with the new secret, both held", [STRIPE_OLD, STRIPE_NEW], header, body)
        add(f"body {index}: tampered", [STRIPE_NEW], header, body + " ", NOW)
        add(f"body {index}: unknown secret", [STRIPE_OLD], header, body)
    body = BODIES[0]
    header = sign(body, STRIPE_NEW, timestamp=NOW)
    add("299 s old", [STRIPE_NEW], header, body, NOW + 299)
    add("301 s old", [STRIPE_NEW], header, body, NOW + 301)
    old_v1 = sign(body, STRIPE_OLD, timestamp=NOW).split(",")[1]
    add("two v1 during a roll, the second matches", [STRIPE_NEW], header.replace(",", f",{old_v1},"), body)
    add("no header", [STRIPE_NEW], None, body)
    add("header without signatures", [STRIPE_NEW], f"t={NOW}", body)
    add("malformed header", [STRIPE_NEW], "garbage", body)
    t_item, v1_item = header.split(",")
    add("upper-case hex tag", [STRIPE_NEW], f"{t_item},{v1_item.upper().replace('V1=', 'v1=')}", body)


# ------------------------------------------------------------------------------------------------
# Slack: slack_sdk.signature.SignatureVerifier, with its clock pinned.
# ------------------------------------------------------------------------------------------------

SLACK_OLD = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_NEW = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


class PinnedClock(slack_sdk.signature.Clock):
    def __init__(self, now: int) -> None:
        self.pinned = now

    def now(self) -> float:
        return float(self.pinned)


def slack_cases(cases: Cases) -> None:
    def add(name, secrets, timestamp, signature, body, now=NOW):
        headers = {"X-Slack-Request-Timestamp": timestamp}
        if signature is not None:
            headers["X-Slack-Signature"] = signature

        def verdict(secret):
            verifier = slack_sdk.signature.SignatureVerifier(secret, clock=PinnedClock(now))
            return verifier.is_valid_request(body, headers)

        cases.add("slack", name, secrets, headers, body, verdict, now)

    def sign(secret, timestamp, body):
        verifier = slack_sdk.signature.SignatureVerifier(secret)
        return verifier.generate_signature(timestamp=timestamp, body=body)

    stamp = str(NOW)
    for index, body in enumerate(BODIES):
        signature = sign(SLACK_NEW, stamp, body)
        add(f"body {index}: signed with the new secret, both held", [SLACK_OLD, SLACK_NEW], stamp, signature, body)
        add(f"body {index}: tampered", [SLACK_NEW], stamp, signature, body.replace("e", "E", 1))
        add(f"body {index}: unknown secret", [SLACK_OLD], stamp, signature, body)
    body = BODIES[2]
    signature = sign(SLACK_NEW, stamp, body)
    add("299 s old", [SLACK_NEW], stamp, signature, body, NOW + 299)
    add("301 s old", [SLACK_NEW], stamp, signature, body, NOW + 301)
    add("301 s in the future", [SLACK_NEW], stamp, signature, body, NOW - 301)
    add("timestamp header changed", [SLACK_NEW], str(NOW + 1), signature, body)
    add("no signature header", [SLACK_NEW], stamp, None, body)
    add("upper-case hex tag", [SLACK_NEW], stamp, "v0=" + signature[3:].upper(), body)


# ------------------------------------------------------------------------------------------------
# Standard Webhooks: standardwebhooks (webhook-* headers) and svix (svix-* headers, as Svix,
# Clerk and Resend send them), with datetime.now pinned.
# ------------------------------------------------------------------------------------------------

STANDARD_OLD = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
STANDARD_NEW = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()


@contextmanager
def pinned_datetime(now: int) -> Iterator[None]:
    class PinnedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(now, tz=tz or timezone.utc)

    with mock.patch.object(standardwebhooks.webhooks, "datetime", PinnedDatetime):
        yield


def standard_accepts(library, secret: str, headers: Dict[str, str], body: str, now: int) -> bool:
    with pinned_datetime(now):
        try:
            library(secret, body, headers)
            return True
        except Exception:  # the library raises ValueError, not its own error, for some headers
            return False


def standard_cases(cases: Cases) -> None:
    signed_at = datetime.fromtimestamp(NOW, tz=timezone.utc)

    def sign(secret, msg_id, body):
        return standardwebhooks.webhooks.Webhook(secret).sign(msg_id, signed_at, body)

    def add(provider, library, prefix, name, secrets, msg_id, signature, body, now=NOW, timestamp=str(NOW)):
        headers = {f"{prefix}-id": msg_id, f"{prefix}-timestamp": timestamp, f"{prefix}-signature": signature}
        headers = {key: value for key, value in headers.items() if value is not None}
        cases.add(provider, name, secrets, headers, body,
                  lambda secret: standard_accepts(library, secret, headers, body, now), now)

    # standardwebhooks parses the body as JSON unless told not to; a signature covers any body.
    families = [
        ("standard-webhooks", lambda secret, body, headers: standardwebhooks.webhooks.Webhook(secret).verify(
            body, headers, json_parse=False), "webhook"),
        ("svix", lambda secret, body, headers: svix.webhooks.Webhook(secret).verify(body, headers), "svix"),
    ]
    for provider, library, prefix in families:
        for index, body in enumerate(BODIES):
            msg_id = f"msg_{provider}_{index}"
            signature = sign(STANDARD_NEW, msg_id, body)
            both = f"{sign(STANDARD_OLD, msg_id, body)} {signature}"

            def case(name, *args, **kwargs):
                add(provider, library, prefix, f"body {index}: {name}", *args, **kwargs)

            case("signed with the new secret, both held", [STANDARD_OLD, STANDARD_NEW], msg_id, signature, body)
            case("one signature per secret, the second matches", [STANDARD_NEW], msg_id, both, body)
            case("tampered", [STANDARD_NEW], msg_id, signature, body + "x")
            case("unknown secret", [STANDARD_OLD], msg_id, signature, body)
            case("other message id", [STANDARD_NEW], msg_id + "x", signature, body)
        body = BODIES[0]
        signature = sign(STANDARD_NEW, "msg_time", body)

        def case(name, *args, **kwargs):
            add(provider, library, prefix, name, *args, **kwargs)

        case("299 s old", [STANDARD_NEW], "msg_time", signature, body, NOW + 299)
        case("301 s old", [STANDARD_NEW], "msg_time", signature, body, NOW + 301)
        case("301 s in the future", [STANDARD_NEW], "msg_time", signature, body, NOW - 301)
        case("no id header", [STANDARD_NEW], None, signature, body)
        case("no signature header", [STANDARD_NEW], "msg_time", None, body)
        case("malformed signature header", [STANDARD_NEW], "msg_time", "garbage", body)
        case("non-numeric timestamp", [STANDARD_NEW], "msg_time", signature, body, timestamp="soon")


# ------------------------------------------------------------------------------------------------
# GitHub: @octokit/webhooks-methods, through octokit.mjs.
# ------------------------------------------------------------------------------------------------

GITHUB_OLD = "It's a Secret to Everybody"
GITHUB_NEW = "another secret, newer"


def octokit(requests: List[dict]) -> list:
    answer = subprocess.run(
        ["node", str(HERE / "octokit.mjs")],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
    )
    return json.loads(answer.stdout)


def github_cases(cases: Cases) -> None:
    signatures = octokit([{"op": "sign", "secret": GITHUB_NEW, "payload": body} for body in BODIES])
    planned = []
    for index, (body, signature) in enumerate(zip(BODIES, signatures)):
        planned += [
            (f"body {index}: signed with the new secret, both held", [GITHUB_OLD, GITHUB_NEW], signature, body),
            (f"body {index}: tampered", [GITHUB_NEW], signature, body[:-1]),
            (f"body {index}: unknown secret", [GITHUB_OLD], signature, body),
        ]
    planned += [
        ("sha1= prefix on the sha256 tag", [GITHUB_NEW], signatures[0].replace("sha256=", "sha1="), BODIES[0]),
        ("tag without its prefix", [GITHUB_NEW], signatures[0][len("sha256="):], BODIES[0]),
        ("no header", [GITHUB_NEW], None, BODIES[0]),
        ("upper-case hex tag", [GITHUB_NEW], "sha256=" + signatures[0][len("sha256="):].upper(), BODIES[0]),
    ]
    questions = [
        {"op": "verify", "secret": secret, "payload": body, "signature": signature or ""}
        for (_, secrets, signature, body) in planned
        for secret in secrets
    ]
    answers = iter(octokit(questions))
    for name, secrets, signature, body in planned:
        verdicts = {secret: next(answers) for secret in secrets}
        headers = {} if signature is None else {"X-Hub-Signature-256": signature}
        cases.add("github", name, secrets, headers, body, verdicts.__getitem__)


# ------------------------------------------------------------------------------------------------
# Twilio: twilio.request_validator.RequestValidator.
# ------------------------------------------------------------------------------------------------

TWILIO_OLD = "12345"
TWILIO_NEW = "f00dfacef00dfacef00dfacef00dface"
TWILIO_PUBLIC_URL = "https://hooks.example.com/ingest/api/v1/source/src_twilio"


def twilio_cases(cases: Cases) -> None:
    def add(name, secrets, query, signature, body, library_params):
        url = TWILIO_PUBLIC_URL + (f"?{query}" if query else "")
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        cases.add("twilio", name, secrets, headers, body,
                  lambda secret: RequestValidator(secret).validate(url, library_params, signature or ""),
                  public_url=TWILIO_PUBLIC_URL, query=query)

    params = {"To": "+18005551212", "From": "+14158675309", "Body": "h\u00e9llo & bye = 100%", "NumMedia": "0"}
    form = urllib.parse.urlencode(list(reversed(params.items())))
    query = "x=1&y=two"
    url = f"{TWILIO_PUBLIC_URL}?{query}"
    signature = RequestValidator(TWILIO_NEW).compute_signature(url, params)
    add("form: signed with the new token, both held", [TWILIO_OLD, TWILIO_NEW], query, signature, form, params)
    add("form: unknown token", [TWILIO_OLD], query, signature, form, params)
    tampered = {**params, "Body": "h\u00e9llo & bye = 1000%"}
    add("form: parameter changed", [TWILIO_NEW], query, signature, urllib.parse.urlencode(tampered), tampered)
    add("form: query dropped", [TWILIO_NEW], "", signature, form, params)
    with_port = RequestValidator(TWILIO_NEW).compute_signature(
        url.replace("hooks.example.com", "hooks.example.com:443"), params)
    add("form: signed with the default port", [TWILIO_NEW], query, with_port, form, params)
    add("form: no header", [TWILIO_NEW], query, None, form, params)

    call = "CallSid=CA1234567890ABCDE&CallStatus=completed"
    get_signature = RequestValidator(TWILIO_NEW).compute_signature(f"{TWILIO_PUBLIC_URL}?{call}", {})
    add("GET: parameters in the query only", [TWILIO_NEW], call, get_signature, "", {})

    for index, body in enumerate(BODIES[:2]):
        validator = RequestValidator(TWILIO_NEW)
        json_query = f"bodySHA256={validator.compute_hash(body)}"
        json_signature = validator.compute_signature(f"{TWILIO_PUBLIC_URL}?{json_query}", {})
        add(f"JSON body {index}: signed", [TWILIO_OLD, TWILIO_NEW], json_query, json_signature, body, body)
        add(f"JSON body {index}: tampered", [TWILIO_NEW], json_query, json_signature, body + " ", body + " ")


# ------------------------------------------------------------------------------------------------
# Shopify: @shopify/shopify-api, through shopify.mjs (shopify.webhooks.validate, one app per
# secret). The library also requires the topic, shop domain, API version and webhook id headers
# (hookd checks the signature only), so every case carries them: the cases are about the HMAC.
# ------------------------------------------------------------------------------------------------

SHOPIFY_OLD = "shpss_old_5a0c1f7e93d2b864"
SHOPIFY_NEW = "shpss_new_0e9d8c7b6a5f4e3d"
SHOPIFY_HEADERS = {
    "X-Shopify-Topic": "orders/create",
    "X-Shopify-Shop-Domain": "hookd-compat.myshopify.com",
    "X-Shopify-API-Version": "2024-10",
    "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
}


def shopify(requests: List[dict]) -> list:
    answer = subprocess.run(
        ["node", str(HERE / "shopify.mjs")],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
    )
    return json.loads(answer.stdout)


def shopify_cases(cases: Cases) -> None:
    signatures = shopify([{"op": "sign", "secret": SHOPIFY_NEW, "body": body} for body in BODIES])
    planned = []
    for index, (body, signature) in enumerate(zip(BODIES, signatures)):
        planned += [
            (f"body {index}: signed with the new secret, both held", [SHOPIFY_OLD, SHOPIFY_NEW], signature, body),
            (f"body {index}: tampered", [SHOPIFY_NEW], signature, body + "\n"),
            (f"body {index}: unknown secret", [SHOPIFY_OLD], signature, body),
        ]
    digest = base64.b64decode(signatures[0])
    planned += [
        ("no header", [SHOPIFY_NEW], None, BODIES[0]),
        ("empty header", [SHOPIFY_NEW], "", BODIES[0]),
        ("hex instead of base64", [SHOPIFY_NEW], digest.hex(), BODIES[0]),
        ("base64 without its padding", [SHOPIFY_NEW], signatures[0].rstrip("="), BODIES[0]),
    ]
    # The URL-safe alphabet differs only where the standard one has '+' or '/'.
    for body, signature in zip(BODIES, signatures):
        if "+" in signature or "/" in signature:
            url_safe = signature.replace("+", "-").replace("/", "_")
            planned.append(("base64url alphabet", [SHOPIFY_NEW], url_safe, body))
            break
    questions = []
    for _, secrets, signature, body in planned:
        headers = dict(SHOPIFY_HEADERS)
        if signature is not None:
            headers["X-Shopify-Hmac-Sha256"] = signature
        questions += [{"op": "verify", "secret": secret, "headers": headers, "body": body} for secret in secrets]
    answers = iter(shopify(questions))
    for name, secrets, signature, body in planned:
        verdicts = {secret: next(answers) for secret in secrets}
        headers = dict(SHOPIFY_HEADERS)
        if signature is not None:
            headers["X-Shopify-Hmac-Sha256"] = signature
        cases.add("shopify", name, secrets, headers, body, verdicts.__getitem__)


def generate() -> str:
    cases = Cases()
    for provider_cases in (stripe_cases, slack_cases, standard_cases, github_cases, twilio_cases, shopify_cases):
        provider_cases(cases)
    def node_version(package: str) -> str:
        return json.loads((HERE / "node_modules" / package / "package.json").read_text())["version"]

    document = {
        "about": "Generated by compat/provider_libraries/generate.py from the providers' own "
                 "libraries; do not edit. A case is accepted if the library verified it with any "
                 "of its secrets, with the library's clock at `now`.",
        "libraries": {
            **{name: metadata.version(name) for name in ("stripe", "slack_sdk", "standardwebhooks", "svix", "twilio")},
            "@octokit/webhooks-methods": node_version("@octokit/webhooks-methods"),
            "@shopify/shopify-api": node_version("@shopify/shopify-api"),
        },
        "tolerance_secs": TOLERANCE,
        "cases": cases.cases,
    }
    return json.dumps(document, indent=1, ensure_ascii=True) + "\n"


def main() -> int:
    fresh = generate()
    if sys.argv[1:] == ["--check"]:
        if CASES_PATH.read_text() != fresh:
            print(f"{CASES_PATH} is stale: run {Path(__file__).name} and commit it", file=sys.stderr)
            return 1
        return 0
    CASES_PATH.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
