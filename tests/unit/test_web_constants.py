"""The constants the web extensions copy from Python are the Python ones (issue 21): the JS runs in the browser and
cannot import models/ or nodes/, so each copy is read from its script and compared with its one home. A schema or a
served constant would need the node loaded; these are fixed at install time, so a test ties them."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

import models.loop.engines

REPO_ROOT = Path(__file__).resolve().parents[2]
COPIES = [  # (script in web/js, its constant, the module that is its home, the name there)
    ("legacy_widgets.js", "LEGACY_ENGINE", "models.loop.engines", "LEGACY_ENGINE"),
    ("legacy_widgets.js", "LEGACY_BORDER", "models.flow.layers", "LEGACY_BORDER"),
    ("motion_editor.js", "EDITOR_IMAGE_KEY", "nodes.flow", "EDITOR_IMAGE_KEY"),
    ("motion_editor.js", "EDITOR_REGIONS_KEY", "nodes.flow", "EDITOR_REGIONS_KEY"),
    ("motion_editor.js", "LAYER_COLOURS", "models.flow.viz", "LAYER_COLOURS"),
    ("motion_editor.js", "LAYER_TINT", "models.flow.viz", "LAYER_TINT"),
    ("motion_editor.js", "MAX_ITEMS", "models.flow.hints", "MAX_ARROWS"),
    ("motion_editor.js", "MAX_ITEMS", "models.flow.hints", "MAX_ANCHORS"),
]


def js_constant(root: Path, script: str, name: str):
    """The literal of a top-level ``const NAME = <string, number or JSON array>;`` in web/js/<script>."""
    text = (root / "web" / "js" / script).read_text(encoding="utf-8")
    found = re.findall(rf"^const {name} = (\"[^\"]*\"|-?\d+(?:\.\d+)?|\[[^;]*\]);", text, flags=re.MULTILINE)
    assert len(found) == 1, f"{script}: expected one `const {name} = <literal>;`, found {found}"
    return json.loads(found[0])


def python_constant(module: str, name: str):
    """models/ is imported (plain torch); nodes/ imports ComfyUI, so its module-level literal is read instead."""
    if module.startswith("models."):
        return getattr(importlib.import_module(module), name)
    tree = ast.parse((REPO_ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{module} has no module-level {name} = <literal>")


@pytest.mark.parametrize(("script", "name", "module", "python_name"), COPIES, ids=str)
def test_js_copy_equals_its_python_home(script, name, module, python_name):
    assert js_constant(REPO_ROOT, script, name) == json.loads(json.dumps(python_constant(module, python_name)))


def test_a_drifted_copy_is_seen(tmp_path):
    """A test of the test: a JS copy edited on its own no longer equals its home."""
    (tmp_path / "web" / "js").mkdir(parents=True)
    (tmp_path / "web" / "js" / "legacy_widgets.js").write_text('const LEGACY_ENGINE = "sharp loop";\n')
    assert js_constant(tmp_path, "legacy_widgets.js", "LEGACY_ENGINE") != models.loop.engines.LEGACY_ENGINE
