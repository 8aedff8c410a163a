"""Shared test set-up: the repository root on sys.path (so ``import models`` works) and common paths."""

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = REPO_ROOT / "tests" / "golden"
# The current-ComfyUI leg of the test command keeps its screenshots and logs apart from the oldest leg's.
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts" / ("current-comfyui" if os.environ.get("T2C_COMFYUI_LEG") == "current"
                                                else "")

for _path in (REPO_ROOT, REPO_ROOT / "scripts", REPO_ROOT / "tests" / "fixtures"):
    # `import models`, `import comfy_server`, `import golden_fill` (test fixtures, never shipped to the nodes)
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for files a person should look at after a run (screenshots, sample frames)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


_LAYER_MARKERS = {"comfy": "comfy", "server": "server", "browser": "browser"}


def pytest_collection_modifyitems(config, items):
    """Mark each test by its folder (tests/comfy, tests/server, tests/browser) so layers can be selected."""
    for item in items:
        layer = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts[0]
        if layer in _LAYER_MARKERS:
            item.add_marker(getattr(pytest.mark, _LAYER_MARKERS[layer]))


def pytest_runtest_setup(item):
    """The test command runs its two legs at once, each with half the cores for torch (scripts/test.sh); once the
    other leg has finished (the file ``T2C_CORES_FREED_WHEN`` names exists), this leg's remaining tests, and the
    processes they start, take every core."""
    freed = os.environ.get("T2C_CORES_FREED_WHEN")
    if freed and os.path.exists(freed):
        import torch

        del os.environ["T2C_CORES_FREED_WHEN"]
        os.environ["OMP_NUM_THREADS"] = str(os.cpu_count() or 1)
        torch.set_num_threads(os.cpu_count() or 1)


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory):
    """One real ComfyUI server for the whole session (server and browser layers); always stopped."""
    from comfy_server import ComfyServer

    server = ComfyServer(tmp_path_factory.mktemp("comfy-server")).start()
    try:
        yield server
    finally:
        server.stop()
        log = server.log()
        (ARTIFACTS_DIR / "server.log").parent.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS_DIR / "server.log").write_text(log)
        # The stand-in weights (a 2 GB SD1.5 checkpoint, the official networks) would otherwise pile up in
        # the three pytest temp folders pytest keeps; outputs and logs stay for inspection.
        shutil.rmtree(server.models_dir, ignore_errors=True)
