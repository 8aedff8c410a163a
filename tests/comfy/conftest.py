"""In-process node tests: import ComfyUI's own modules from .comfyui/ and load our pack the way ComfyUI does."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys

import pytest
from comfy_server import PACK_NAME, REPO_ROOT, comfy_dir

# ComfyUI's folder must come before the repository root: its `nodes.py` must win over our `nodes/` package,
# while `models` still resolves to our regular package (ComfyUI's models/ folder is only a namespace dir).
sys.path.insert(0, str(comfy_dir()))

import comfy.cli_args  # noqa: E402

# The CUDA build of torch would probe for a driver otherwise; main.py gets this from `--cpu`.
comfy.cli_args.args.cpu = True

import folder_paths  # noqa: E402

# The measured memory peaks are our engines' and encoders', whichever ComfyUI runs them: the oldest leg measures them.
ONE_LEG_ONLY = ["test_animate_memory_peak.py", "test_save_memory_peak.py"]
collect_ignore = ONE_LEG_ONLY if os.environ.get("T2C_COMFYUI_LEG") == "current" else []


def _load_pack():
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def t2c_pack():
    return _load_pack()


@pytest.fixture(scope="session")
def t2c_nodes(t2c_pack) -> dict:
    """node_id → node class, exactly as the extension hands them to ComfyUI."""
    extension = asyncio.run(t2c_pack.comfy_entrypoint())
    classes = asyncio.run(extension.get_node_list())
    return {cls.define_schema().node_id: cls for cls in classes}


@pytest.fixture()
def comfy_output_dir(tmp_path):
    previous = folder_paths.get_output_directory()
    folder_paths.set_output_directory(str(tmp_path))
    yield tmp_path
    folder_paths.set_output_directory(previous)


@pytest.fixture(scope="session", autouse=True)
def comfy_temp_dir(tmp_path_factory):
    """Nodes that send previews to the UI (T2C_TextFlow's editor image) write temp PNGs: keep them out of .comfyui/."""
    previous = folder_paths.get_temp_directory()
    folder_paths.set_temp_directory(str(tmp_path_factory.mktemp("comfy-temp")))
    yield folder_paths.get_temp_directory()
    folder_paths.set_temp_directory(previous)


@pytest.fixture(scope="session", autouse=True)
def comfy_input_dir(tmp_path_factory):
    """The pack copies its sample painting into the input folder when loaded: a temporary one, not .comfyui/input."""
    previous = folder_paths.get_input_directory()
    folder_paths.set_input_directory(str(tmp_path_factory.mktemp("comfy-input")))
    yield folder_paths.get_input_directory()
    folder_paths.set_input_directory(previous)


@pytest.fixture()
def memory_module(t2c_nodes):
    """The pack's nodes/memory.py as ComfyUI loaded it."""
    return sys.modules[t2c_nodes["T2C_Animate"].__module__.rsplit(".", 1)[0] + ".memory"]
