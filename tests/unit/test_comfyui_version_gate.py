"""A ComfyUI older than requires-comfyui gets one clear log line, not import tracebacks (repo-root __init__.py)."""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from pathlib import Path

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]


def _import_pack(monkeypatch, comfyui_version: str | None, inside_comfyui: bool = True):
    """Import the repository's __init__.py as ComfyUI's loader would, with a fake ComfyUI of that version."""
    if inside_comfyui:
        monkeypatch.setitem(sys.modules, "folder_paths", types.ModuleType("folder_paths"))
    else:
        monkeypatch.delitem(sys.modules, "folder_paths", raising=False)
        monkeypatch.delitem(sys.modules, "comfy", raising=False)
    if comfyui_version is None:
        monkeypatch.setitem(sys.modules, "comfyui_version", None)  # import fails: a ComfyUI before the file existed
    else:
        fake = types.ModuleType("comfyui_version")
        fake.__version__ = comfyui_version
        monkeypatch.setitem(sys.modules, "comfyui_version", fake)
    spec = importlib.util.spec_from_file_location("t2c_gate_probe", REPO_ROOT / "__init__.py",
                                                  submodule_search_locations=[str(REPO_ROOT)])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requires_comfyui_matches_pyproject(monkeypatch):
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = pyproject["tool"]["comfy"]["requires-comfyui"]
    assert wanted.startswith(">=")
    module = _import_pack(monkeypatch, None, inside_comfyui=False)
    assert ".".join(map(str, module.REQUIRES_COMFYUI)) == wanted.removeprefix(">=")


@pytest.mark.parametrize("version", ["0.3.40", "0.3.74", "0.2.7", None])
def test_old_comfyui_gets_one_log_line_and_no_nodes(monkeypatch, caplog, version):
    with caplog.at_level(logging.INFO):
        module = _import_pack(monkeypatch, version)
    lines = [record for record in caplog.records if "Text2Cinemagraph" in record.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR
    message = lines[0].getMessage()
    assert "ComfyUI >= 0.3.75" in message and "update ComfyUI" in message
    assert (version or "< 0.3.11") in message
    assert module.NODE_CLASS_MAPPINGS == {}  # every loader accepts this silently: no "Skip ... module" warning
    assert module.WEB_DIRECTORY is None
    assert not hasattr(module, "comfy_entrypoint")


@pytest.mark.parametrize("version", ["0.3.75", "0.3.76", "0.33.0", "1.0.0", "0.4.0rc1"])
def test_supported_comfyui_loads_the_extension(monkeypatch, caplog, version):
    with caplog.at_level(logging.INFO):
        module = _import_pack(monkeypatch, version)
    assert not [r for r in caplog.records if "Text2Cinemagraph" in r.getMessage()]
    assert callable(module.comfy_entrypoint)
    assert module.WEB_DIRECTORY == "./web"
    assert not hasattr(module, "NODE_CLASS_MAPPINGS")  # V3: ComfyUI would ignore comfy_entrypoint otherwise


def test_outside_comfyui_the_module_imports_quietly(monkeypatch, caplog):
    with caplog.at_level(logging.INFO):
        module = _import_pack(monkeypatch, None, inside_comfyui=False)
    assert not caplog.records
    assert callable(module.comfy_entrypoint)
