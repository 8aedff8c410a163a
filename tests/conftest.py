"""Shared test set-up: the repository root on sys.path (so ``import models`` works) and common paths."""

import os
import shutil
import sys
import time
import warnings
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
    """Mark each test by its folder (tests/comfy, tests/server, tests/browser) so layers can be selected, and move the
    ``quiet`` tests (measurements of memory) to the end of the session, in their order, where they wait for a quiet
    machine (:func:`pytest_runtest_setup`)."""
    for item in items:
        layer = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts[0]
        if layer in _LAYER_MARKERS:
            item.add_marker(getattr(pytest.mark, _LAYER_MARKERS[layer]))
    items.sort(key=lambda item: item.get_closest_marker("quiet") is not None)  # stable: each group keeps its order


_OTHER_LEG_DONE = os.environ.pop("T2C_CORES_FREED_WHEN", None)
"""The file scripts/test.sh creates when the leg running alongside this one has finished (None: no other leg)."""
OTHER_LEG_WAIT_S = 600
"""The longest a ``quiet`` test waits for the other leg: its lead over this leg's end is about 300 s (README)."""
_cores_freed = False


def pytest_runtest_setup(item):
    """The test command runs its two legs at once, each with half the cores for torch (scripts/test.sh). Once the
    other leg has finished (the file ``T2C_CORES_FREED_WHEN`` names exists), this leg's remaining tests, and the
    processes they start, take every core. A ``quiet`` test first waits for that: a resident-memory peak measured
    while the other leg's servers and browsers run is off by a few MB (a 256² Animate measured 27 MB so, against
    30–32 MB alone)."""
    global _cores_freed
    if _OTHER_LEG_DONE is None or _cores_freed:
        return
    if item.get_closest_marker("quiet"):
        deadline = time.monotonic() + OTHER_LEG_WAIT_S
        while not os.path.exists(_OTHER_LEG_DONE) and time.monotonic() < deadline:
            time.sleep(1)
        if not os.path.exists(_OTHER_LEG_DONE):
            warnings.warn(f"the other leg of the test command ran on for over {OTHER_LEG_WAIT_S} s: {item.nodeid} "
                          "measures alongside it", stacklevel=1)
    if os.path.exists(_OTHER_LEG_DONE):
        import torch

        _cores_freed = True
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
