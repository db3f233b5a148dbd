"""hookd driven by the official Svix JavaScript SDK (npm ``svix``, pinned in compat/js_sdk).

Each scenario is an exported ``async function`` of an area file ``compat/js_sdk/<area>.mjs``
and runs as its own test here: ``node compat/js_sdk/<area>.mjs <scenario>`` against the
session's hookd (``HOOKD_URL``, ``HOOKD_TOKEN``), one after another, so a failure names the
operation. The scenarios assert with ``node:assert/strict`` and verify deliveries with the JS
SDK's own ``Webhook`` class. compat/js_sdk/README.md says how to add one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest

from conftest import Hookd

JS_SDK_DIR = Path(__file__).resolve().parent / "js_sdk"
SCENARIO_TIMEOUT_S = 60
# The files that are not areas: the shared helpers.
NOT_AREAS = {"lib.mjs"}
SCENARIO = re.compile(r"^export async function (\w+)\(", re.M)


def area_files() -> List[Path]:
    return sorted(p for p in JS_SDK_DIR.glob("*.mjs") if p.name not in NOT_AREAS)


def declared_scenarios() -> List[Tuple[str, str]]:
    """(area, scenario) for every ``export async function`` of every area file, in file order."""
    return [(path.stem, name) for path in area_files() for name in SCENARIO.findall(path.read_text())]


def node_or_fail() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on the PATH: install Node 20+", pytrace=False)
    if not (JS_SDK_DIR / "node_modules" / "svix").is_dir():
        pytest.fail(
            "the Svix JS SDK is missing: (cd compat/js_sdk && npm ci)",
            pytrace=False,
        )
    return node


def run_node(hookd: Hookd, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["HOOKD_URL"] = hookd.url
    env["HOOKD_TOKEN"] = hookd.token
    env.setdefault("NO_COLOR", "1")
    return subprocess.run(
        [node_or_fail(), *args],
        cwd=str(JS_SDK_DIR),
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
    )


@pytest.mark.parametrize(("area", "scenario"), declared_scenarios(), ids=lambda v: v)
def test_js_sdk(hookd: Hookd, area: str, scenario: str) -> None:
    result = run_node(hookd, f"{area}.mjs", scenario)
    assert result.returncode == 0, (
        f"node {area}.mjs {scenario} exited with {result.returncode}\n"
        f"--- stderr ---\n{result.stderr}\n--- stdout ---\n{result.stdout}"
    )
    assert f"ok {area}.{scenario}" in result.stdout, result.stdout


def test_every_scenario_is_collected(hookd: Hookd) -> None:
    """The runner's own list of each area's scenarios (every exported function) is the one
    collected above, so a scenario written another way is not silently left out."""
    declared = declared_scenarios()
    assert declared, "no scenario found: is SCENARIO still the way scenarios are declared?"
    exported = []
    for path in area_files():
        result = run_node(hookd, path.name, "--list")
        assert result.returncode == 0, result.stderr
        exported.extend((path.stem, name) for name in json.loads(result.stdout))
    assert sorted(exported) == sorted(declared)
