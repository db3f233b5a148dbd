"""The OpenAPI document (`GET /api/v1/openapi.json`), judged by third-party tools.

- ``openapi-spec-validator`` checks that it is a valid OpenAPI 3.1 document.
- ``schemathesis`` loads it and fuzzes every operation of a hookd of its own (so that the
  session's hookd, which the other tests share, sees none of its data), with the admin token
  and real records behind the path parameters, and fails on any answer that is a 5xx, has a
  status the document does not list for the operation, or whose content type or body does not
  match the document's schema for it. The run is bounded: a few examples per operation, about
  half a minute on a busy two-core machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from conftest import Hookd, running_hookd

SCHEMATHESIS_TIMEOUT_S = 240
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_document_is_valid_openapi_3_1(hookd: Hookd):
    document = httpx.get(f"{hookd.url}/api/v1/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    validate(document)


@pytest.fixture(scope="module")
def fuzzed_hookd(tmp_path_factory: pytest.TempPathFactory):
    with running_hookd(tmp_path_factory.mktemp("hookd-schemathesis")) as server:
        yield server


def _records(server: Hookd) -> dict[str, str]:
    """One of each record a path names, so that operations reach their handlers' logic
    rather than a 404 for an id that does not exist."""
    with server.http() as http:
        def create(path: str, body: dict) -> dict:
            response = http.post(path, json=body)
            assert response.status_code in (200, 201, 202), response.text
            return response.json()

        app = create("/api/v1/app", {"name": "fuzzed", "uid": "fuzzed-app"})
        endpoint = create(f"/api/v1/app/{app['id']}/endpoint", {"url": "http://127.0.0.1:9/hook"})
        sink = create(f"/api/v1/app/{app['id']}/endpoint", {"url": "polling:"})
        create("/api/v1/event-type", {"name": "fuzzed.event", "description": "fuzzed"})
        message = create(f"/api/v1/app/{app['id']}/msg", {"eventType": "fuzzed.event", "payload": {"n": 1}})
        token = create(f"/api/v1/app/{app['id']}/token", {"name": "fuzzed"})
        task = create(
            f"/api/v1/app/{app['id']}/endpoint/{endpoint['id']}/recover",
            {"since": "2020-01-01T00:00:00Z"},
        )
        source = create("/ingest/api/v1/source", {"name": "fuzzed", "type": "generic-webhook"})
        ingest_token = source["ingestUrl"].rsplit("/", 1)[1]
        received = httpx.post(f"{server.url}/ingest/in/{ingest_token}", json={"a": 1}, timeout=10)
        assert received.status_code == 200, received.text
        request = http.get(f"/ingest/api/v1/source/{source['id']}/request").json()["data"][0]
        return {
            "path.app_id": app["id"],
            "path.endpoint_id": endpoint["id"],
            "path.sink_id": sink["id"],
            "path.consumer_id": "fuzzed-consumer",
            "path.msg_id": message["id"],
            "path.event_type_name": "fuzzed.event",
            "path.token_id": token["id"],
            "path.task_id": task["id"],
            "path.source_id": source["id"],
            "path.request_id": request["id"],
            "path.token": ingest_token,
        }


def _schemathesis() -> list[str]:
    """The schemathesis command installed beside this Python."""
    beside = Path(sys.executable).with_name("schemathesis")
    return [str(beside)] if beside.is_file() else ["schemathesis"]


def test_schemathesis_finds_no_defect(fuzzed_hookd: Hookd, tmp_path: Path):
    records = _records(fuzzed_hookd)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[parameters]\n" + "".join(f'"{name}" = "{value}"\n' for name, value in records.items())
    )
    command = _schemathesis() + [
        "--config-file", str(config),
        "run", f"{fuzzed_hookd.url}/api/v1/openapi.json",
        "--url", fuzzed_hookd.url,
        "--header", f"Authorization: Bearer {fuzzed_hookd.token}",
        "--checks", CHECKS,
        "--max-examples", "10",
        # Stateful testing needs OpenAPI links, which the document does not declare; the
        # records above stand in for them.
        "--phases", "examples,coverage,fuzzing",
        # An event stream stays open until the client leaves, so a request to it can only
        # time out; its route is held to the document by tests/it/openapi.rs and its
        # behaviour by tests/it/stream_order.rs.
        "--exclude-path-regex", "/stream$",
        "--workers", "2",
        "--request-timeout", "10",
        "--generation-database", "none",
        # Hypothesis's own check that data is generated fast enough: on a busy CI machine it
        # can fail a run that found nothing; it judges the generator, not hookd's answers.
        "--suppress-health-check", "too_slow",
        "--no-color",
    ]
    env = dict(os.environ, NO_COLOR="1")
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_TIMEOUT_S,
        env=env,
        stdin=subprocess.DEVNULL,
        # schemathesis keeps a cache in `.schemathesis/` under its working directory: a
        # scratch one, so that a test run leaves the checkout as it found it.
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested, output[-5_000:]
    assert int(tested.group(1)) == int(selected.group(1)) > 0, output[-5_000:]
