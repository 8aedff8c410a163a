"""The queue under load (issue 13, item 5): 20 queued runs keep the server's memory flat, and Cancel stops Text
Flow, Animate and Save on large inputs within 2 s (Save leaving no file behind)."""

from __future__ import annotations

import time
import urllib.request
import uuid

import psutil
import pytest
from test_bad_inputs import AUTO, _graph, _pruned

CANCEL_SECONDS = 2.0
"""Issue 13: from /interrupt to the prompt's history entry, including the step from one node to the next."""


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


def _cancel_when_running(server, prompt: dict, settle: float, started=None) -> tuple[dict, float]:
    """Queue ``prompt``, wait until it runs (and ``started()`` holds), ``settle`` seconds more, then Cancel: the
    history entry and the seconds from /interrupt to it."""
    prompt_id = _queue(server, prompt)
    deadline = time.monotonic() + 120
    while not (_running(server) and (started is None or started())) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(settle)
    start = time.monotonic()
    _interrupt(server)
    entry = _wait(server, prompt_id, timeout=120)
    return entry, time.monotonic() - start


def _interrupted_node(entry: dict) -> str | None:
    """The class of the node that was running when Cancel arrived (ComfyUI's execution_interrupted message)."""
    return next((data["node_type"] for event, data in entry["status"]["messages"]
                 if event == "execution_interrupted"), None)


def _flow_node(image: str, mask: str, text: str) -> dict:
    return {"class_type": "T2C_TextFlow",
            "inputs": {"image": [image, 0], "mask": [mask, 0], "text": text, "direction": AUTO, "angle": 270.0,
                       "strength": 0.0, "seed": 0, "arrows": "", "hint_px_per_frame": 64.0}}


def test_cancel_stops_a_large_text_flow(comfy_server):
    graph = {
        "img": {"class_type": "EmptyImage", "inputs": {"width": 2048, "height": 2048, "batch_size": 1,
                                                       "color": 0x3366AA}},
        "msk": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 2048, "height": 2048}},
        "flow": _flow_node("img", "msk", "a river"),  # the region's own axis: the river solver runs
        "out": {"class_type": "PreviewImage", "inputs": {"images": ["flow", 1]}},
    }
    entry, elapsed = _cancel_when_running(comfy_server, graph, settle=0.3)
    print(f"Text Flow 2048²: Cancel took {elapsed:.2f} s")
    assert entry["status"]["status_str"] != "success"
    assert _interrupted_node(entry) == "T2C_TextFlow"
    assert elapsed < CANCEL_SECONDS, f"Cancel took {elapsed:.1f} s"


@pytest.mark.parametrize("engine", ["sharp loop", "classic splat"])
def test_cancel_stops_a_large_animate(comfy_server, engine):
    graph = {
        "img": {"class_type": "EmptyImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1,
                                                       "color": 0x3366AA}},
        # A small flow (Animate resizes it to the image) so that Animate is what runs when Cancel arrives.
        "small": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "msk": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}},
        "flow": _flow_node("small", "msk", "a waterfall"),
        "anim": {"class_type": "T2C_Animate",
                 "inputs": {"image": ["img", 0], "flow": ["flow", 0], "frames": 120, "speed": 1.0,
                            "max_px_per_frame": 0.0, "integration": "round", "engine": engine}},
        "save": {"class_type": "T2C_SaveCinemagraph",
                 "inputs": {"frames": ["anim", 0], "filename_prefix": "cancelled_animate/loop", "fps": 30.0,
                            "format": "mp4", "quality": 90, "pingpong": False}},
    }
    entry, elapsed = _cancel_when_running(comfy_server, graph, settle=1.0)
    print(f"Animate 1024² × 120 ({engine}): Cancel took {elapsed:.2f} s")
    assert entry["status"]["status_str"] != "success"
    assert _interrupted_node(entry) == "T2C_Animate"
    assert elapsed < CANCEL_SECONDS, f"Cancel took {elapsed:.1f} s"


SAVE_FORMATS = ["mp4", "gif", "webp", "webm", "motion photo"]


@pytest.mark.parametrize("fmt", SAVE_FORMATS)
def test_cancel_stops_save_and_leaves_no_file(comfy_server, fmt):
    prefix = f"cancelled_{fmt.replace(' ', '_')}/loop"
    graph = {  # 300 frames of 512² noise (0.94 GB): a flat colour would encode in no time in every format
        "img": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 300,
                                                       "color": 0x3366AA}},
        "noise": {"class_type": "ImageAddNoise",
                  "inputs": {"image": ["img", 0], "seed": SAVE_FORMATS.index(fmt), "strength": 0.5}},
        "save": {"class_type": "T2C_SaveCinemagraph",
                 "inputs": {"frames": ["noise", 0], "filename_prefix": prefix, "fps": 30.0, "format": fmt,
                            "quality": 90, "pingpong": False}},
    }
    folder = comfy_server.output_dir / prefix.split("/")[0]
    # Save has begun to write (its temporary file exists): making the frames takes a while.
    entry, elapsed = _cancel_when_running(comfy_server, graph, settle=0.5,
                                          started=lambda: folder.is_dir() and any(folder.glob(".partial-*")))
    print(f"Save 300 × 512² noise {fmt}: Cancel took {elapsed:.2f} s")
    assert entry["status"]["status_str"] != "success"
    assert _interrupted_node(entry) == "T2C_SaveCinemagraph"
    assert elapsed < CANCEL_SECONDS, f"Cancel took {elapsed:.1f} s"
    assert not folder.exists() or [p for p in folder.rglob("*") if p.is_file()] == []
