"""The signature cases that hookd's verifiers are tested against are what the providers' own
libraries say today.

``provider_libraries/generate.py`` signs requests with stripe, slack_sdk, standardwebhooks, svix,
twilio, @octokit/webhooks-methods and @shopify/shopify-api and records each library's verdict
(tampered, stale and unknown-secret requests included) in ``provider_libraries/cases.json``; the Rust test
``provider_libraries`` in ``crates/webhook-signature`` fails if hookd's verdict differs from any.
This test regenerates the file with the pinned libraries and fails if the committed one differs,
so a library that changes its rules, or a hand edit, cannot go unnoticed.
"""

from __future__ import annotations

import difflib
import importlib.util
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent / "provider_libraries"


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_provider_cases", HERE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_node_library_is_installed():
    assert shutil.which("node"), "node is not on the PATH (apt-get install nodejs)"
    for name in ("@octokit/webhooks-methods", "@shopify/shopify-api"):
        package = HERE / "node_modules" / name / "package.json"
        assert package.exists(), f"run `npm ci` in {HERE}"


def test_cases_json_is_what_the_libraries_say_today():
    generator = load_generator()
    fresh = generator.generate()
    committed = generator.CASES_PATH.read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            fresh.splitlines(keepends=True),
            "cases.json (committed)",
            "cases.json (regenerated)",
            n=1,
        )
    )
    assert not diff, f"regenerate with `python3 {HERE / 'generate.py'}`:\n{diff[:4000]}"


def test_every_provider_has_accepted_and_rejected_cases():
    import json

    cases = json.loads((HERE / "cases.json").read_text())["cases"]
    for provider in ("stripe", "slack", "standard-webhooks", "svix", "github", "twilio"):
        verdicts = {case["library_accepts"] for case in cases if case["provider"] == provider}
        assert verdicts == {True, False}, provider
