"""ComfyUI conventions in the shipped JS (web/), the rules comfy-test's lint and the registry reviewers apply:
extension names start with the lower-case display name, no globals written for tests, no polling timers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO_ROOT / "web").rglob("*.js"))
BROWSER_GLOBALS = ("devicePixelRatio", "location")  # window.* reads the editor needs, never writes


def _display_name() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["comfy"]["DisplayName"]


def test_there_is_shipped_js():
    assert SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_extension_names_start_with_the_lower_case_display_name(script):
    prefix = _display_name().lower() + "."
    names = re.findall(r"registerExtension\(\{\s*name:\s*[\"'`]([^\"'`]+)", script.read_text(encoding="utf-8"))
    for name in names:
        assert name.startswith(prefix), f"{script.name}: extension {name!r} must start with {prefix!r}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_globals_and_no_polling(script):
    text = script.read_text(encoding="utf-8")
    writes = re.findall(r"\b(?:window|globalThis)\.([A-Za-z_$][\w$]*)\s*(?:=[^=]|\?\?=|\|\|=)", text)
    assert not writes, f"{script.name} writes globals {writes}: tests must observe the app's own registries"
    reads = set(re.findall(r"\b(?:window|globalThis)\.([A-Za-z_$][\w$]*)", text)) - set(BROWSER_GLOBALS)
    assert not {name for name in reads if name.startswith("__")}, f"{script.name} uses test-only globals {reads}"
    assert "setInterval" not in text, f"{script.name} polls with setInterval: react to the app's events instead"


def test_every_registered_extension_is_named_in_the_browser_fixture():
    """The browser tests wait for exactly our extensions in app.extensions (tests/browser/conftest.py)."""
    names = sorted(name for script in SCRIPTS for name in re.findall(
        r"registerExtension\(\{\s*name:\s*[\"'`]([^\"'`]+)", script.read_text(encoding="utf-8")))
    conftest = (REPO_ROOT / "tests" / "browser" / "conftest.py").read_text(encoding="utf-8")
    for name in names:
        assert f'"{name}"' in conftest
