"""Hostile or broken inputs through the real server (issue 13, item 5): each is refused by `/prompt` (400) or fails
at run time with a message naming the input, quickly, and the server keeps answering afterwards."""

from __future__ import annotations

import copy
import json
import re
import time

import pytest

AUTO = "auto (from text)"
NAN = float("nan")  # json.dumps writes NaN, and ComfyUI's server reads it back, as a buggy client would send it


def _graph() -> dict:
    """Image → Text Flow → Animate → Save, Region Mask as Animate's mask, Flow Preview and Twin Prompt previewed."""
    return {
        "img": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0x3366AA}},
        "msk": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 32, "height": 32}},
        "region": {"class_type": "T2C_RegionMask",
                   "inputs": {"image": ["img", 0], "words": "water", "backend": "auto", "n_clusters": 5,
                              "cluster_type": "kmeans", "threshold": 0.7, "erosion_ksize": 5,
                              "erosion_iterations": 0, "mask": ["msk", 0]}},
        "flow": {"class_type": "T2C_TextFlow",
                 "inputs": {"image": ["img", 0], "mask": ["region", 0], "text": "waterfall", "direction": AUTO,
                            "angle": 270.0, "strength": 0.0, "seed": 0, "arrows": "", "hint_px_per_frame": 64.0}},
        "anim": {"class_type": "T2C_Animate",
                 "inputs": {"image": ["img", 0], "flow": ["flow", 0], "mask": ["region", 0], "frames": 4,
                            "speed": 1.0, "max_px_per_frame": 0.0, "integration": "round"}},
        "save": {"class_type": "T2C_SaveCinemagraph",
                 "inputs": {"frames": ["anim", 0], "filename_prefix": "bad_inputs/loop", "fps": 30.0,
                            "format": "gif", "quality": 90, "pingpong": False}},
        "fprev": {"class_type": "T2C_FlowPreview",
                  "inputs": {"flow": ["flow", 0], "arrows": True, "max_px_per_frame": 0.0}},
        "fprev_out": {"class_type": "PreviewImage", "inputs": {"images": ["fprev", 0]}},
        "twin": {"class_type": "T2C_TwinPrompt", "inputs": {"prompt": "a waterfall in upwards direction",
                                                          "twin_prompt": ""}},
        "twin_out": {"class_type": "PreviewAny", "inputs": {"source": ["twin", 0]}},
    }


# (node, input, value): the value replaces the input of that node in the graph above.
BAD_INPUTS = [
    ("flow", "strength", 1e9), ("flow", "strength", -1.0), ("flow", "strength", NAN), ("flow", "strength", "fast"),
    ("flow", "seed", 2**70), ("flow", "seed", -1), ("flow", "angle", 1e308), ("flow", "angle", -1e308),
    ("flow", "hint_px_per_frame", 1e6), ("flow", "direction", "sideways"), ("flow", "direction", 7),
    ("flow", "arrows", "[[0.1, 0.2, 0.3]]"), ("flow", "arrows", "{"), ("flow", "arrows", "[" * 100_000),
    ("flow", "arrows", "[" * 50_000 + "]" * 50_000), ("flow", "arrows", "[" + "[0.1,0.2,0.3,0.4]," * 150_000),
    ("flow", "arrows", "[[2, 2, 3, 3]]"), ("flow", "arrows", "[[NaN, 0, 1, 1]]"), ("flow", "arrows", '{"x": []}'),
    ("flow", "arrows", "[[0.5, 0.5, 0.5, 0.5]]"), ("flow", "arrows", '"text"'),
    ("flow", "border", "sideways"), ("flow", "cycles", "5"), ("flow", "layers", ["img", 0]),
    ("region", "n_clusters", 100_000), ("region", "n_clusters", 1), ("region", "erosion_iterations", 10**9),
    ("region", "erosion_ksize", 1001), ("region", "threshold", 2.0), ("region", "threshold", NAN),
    ("region", "words", ""), ("region", "words", " , ; "), ("region", "backend", "magic"),
    ("region", "cluster_type", "dbscan"), ("region", "clip_model", "ViT-Z/99"),
    ("anim", "frames", 1), ("anim", "frames", 100_000), ("anim", "frames", "many"), ("anim", "speed", 1e9),
    ("anim", "speed", -1.0), ("anim", "speed", NAN), ("anim", "max_px_per_frame", 1e9),
    ("anim", "max_px_per_frame", NAN), ("anim", "integration", "cubic"), ("anim", "image", ["msk", 0]),
    ("anim", "flow", ["img", 0]),
    ("save", "fps", 0.0), ("save", "fps", 1e9), ("save", "fps", NAN), ("save", "quality", 0),
    ("save", "quality", 101), ("save", "format", "exe"), ("save", "frames", ["flow", 0]), ("save", "repeat", 0),
    ("save", "repeat", 1_000_000), ("save", "max_side", -2), ("save", "max_side", "big"),
    ("save", "filename_prefix", "."), ("save", "filename_prefix", ".."), ("save", "filename_prefix", "a\x00b"),
    ("save", "filename_prefix", "x" * 300), ("save", "filename_prefix", "d/" * 2000 + "loop"),
    ("fprev", "max_px_per_frame", 1e9), ("fprev", "max_px_per_frame", -1.0),
    ("twin", "prompt", ""), ("twin", "prompt", "   "),
]


_OUTPUT_OF = {"fprev": "fprev_out", "twin": "twin_out"}


def _pruned(prompt: dict, node: str) -> dict:
    """Only the branch of the output node that ``node`` feeds: ComfyUI queues the valid outputs of a prompt and
    drops the invalid ones (200 with node_errors), so a one-output prompt is needed for a clean 400."""
    keep, todo = set(), [_OUTPUT_OF.get(node, "save")]
    while todo:
        current = todo.pop()
        if current in keep or current not in prompt:
            continue
        keep.add(current)
        todo += [value[0] for value in prompt[current]["inputs"].values() if isinstance(value, list)]
    return {key: value for key, value in prompt.items() if key in keep}


def _ids():
    return [f"{node}.{name}={str(value)[:24]!s}" for node, name, value in BAD_INPUTS]


def _failure(server, prompt: dict, timeout: float = 120.0) -> str:
    """What the user reads of a prompt that must fail: for a /prompt 400, "input_name: message details" of each
    error of the node; for a run-time failure, the node type and exception message."""
    try:
        server.run_prompt(prompt, timeout=timeout)
    except RuntimeError as error:
        text = str(error)
    else:
        raise AssertionError("the prompt succeeded")
    if text.startswith("POST /prompt -> 400: "):
        body = json.loads(text.split(": ", 1)[1])
        errors = [e for node in body.get("node_errors", {}).values() for e in node["errors"]] or [body["error"]]
        return "\n".join(f"{e.get('extra_info', {}).get('input_name', '?')}: {e['message']} {e['details']}"
                         for e in errors)
    return text.split("\n", 1)[0]


@pytest.mark.parametrize(("node", "name", "value"), BAD_INPUTS, ids=_ids())
def test_a_bad_input_is_refused_naming_it(comfy_server, node, name, value):
    prompt = _graph()
    prompt[node]["inputs"][name] = value
    start = time.monotonic()
    message = _failure(comfy_server, _pruned(prompt, node))
    assert time.monotonic() - start < 60
    assert re.search(rf"(?<!\w){name}(?!\w)", message), message[:1500]  # the input itself, as a word
    assert "devices" in comfy_server.get("/system_stats")


def test_the_graph_itself_runs(comfy_server):
    entry = comfy_server.run_prompt(_graph(), timeout=300)
    assert entry["status"]["status_str"] == "success"


@pytest.mark.parametrize("text", ["in " * 30_000 + "x direction", ("in " * 20 + "upwards direction ") * 2_000,
                                  "waterfall " * 10_000], ids=["many in", "many phrases", "100 kB plain"])
def test_hostile_text_does_not_stall_the_queue(comfy_server, text):
    prompt = copy.deepcopy(_graph())
    prompt["flow"]["inputs"]["text"] = text
    prompt["twin"]["inputs"]["prompt"] = text
    start = time.monotonic()
    entry = comfy_server.run_prompt(prompt, timeout=120)
    assert time.monotonic() - start < 30  # the old parser: minutes for "many in"
    assert entry["status"]["status_str"] == "success"
    assert json.dumps(comfy_server.get("/system_stats"))
