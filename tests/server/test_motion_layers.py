"""Motion layers through the real server: two and three chained Text Flow nodes (the sample painting's waterfall,
lake and sky from sample_painting_layers.png) rendered by Animate in one loop, an API prompt made before the layer
inputs existed, and a chain of mismatched pictures refused naming both nodes. Frames are saved as PNGs (lossless),
so still pixels can be compared exactly."""

import re

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from comfy_server import REPO_ROOT
from standin_weights import SMALL_PAINTING

FRAMES = 8
AUTO = "auto (from text)"
LAYERS = {  # name: (channel of sample_painting_layers.png, Text Flow inputs)
    "waterfall": ("red", {"text": "a waterfall falling"}),
    "lake": ("green", {"text": "a lake flowing to the left"}),
    "sky": ("blue", {"text": "clouds drifting to the right", "cycles": "1"}),
}


def _text_flow(image: list, mask: list, **inputs) -> dict:
    return {"class_type": "T2C_TextFlow", "inputs": {
        "image": image, "mask": mask, "text": "", "direction": AUTO, "angle": 270.0, "strength": 0.0, "seed": 0,
        "arrows": "", "hint_px_per_frame": 64.0, **inputs}}


def _loop(prompt: dict, flow: str, prefix: str, image: list) -> None:
    """Animate ``image`` along ``flow``'s output and save every frame as a PNG (nodes ``anim_<prefix>``, ...)."""
    prompt[f"anim_{prefix}"] = {"class_type": "T2C_Animate", "inputs": {
        "image": image, "flow": [flow, 0], "frames": FRAMES, "speed": 1.0, "max_px_per_frame": 0.0,
        "integration": "round", "engine": "sharp loop"}}
    prompt[f"save_{prefix}"] = {"class_type": "SaveImage", "inputs": {
        "images": [f"anim_{prefix}", 0], "filename_prefix": f"layers/{prefix}"}}
    prompt[f"info_{prefix}"] = {"class_type": "PreviewAny", "inputs": {"source": [flow, 2]}}


def _layers_prompt(names: list[str]) -> dict:
    """The small sample painting with one chained Text Flow per named layer, bottom first, into Animate."""
    prompt = {"img": {"class_type": "LoadImage", "inputs": {"image": SMALL_PAINTING}}}
    below = None
    for name in names:
        channel, inputs = LAYERS[name]
        prompt[f"mask_{name}"] = {"class_type": "LoadImageMask", "inputs": {
            "image": "sample_painting_layers.png", "channel": channel}}
        prompt[f"flow_{name}"] = _text_flow(["img", 0], [f"mask_{name}", 0], border="auto", **inputs,
                                            **({"layers": [below, 0]} if below else {}))
        below = f"flow_{name}"
    _loop(prompt, below, "stack", ["img", 0])
    return prompt


def _frames(server, entry: dict, prefix: str) -> np.ndarray:
    outputs = {f"save_{prefix}": entry["outputs"][f"save_{prefix}"]}
    paths = sorted(server.output_files({"outputs": outputs}))
    assert len(paths) == FRAMES
    return np.stack([iio.imread(path)[..., :3].astype(int) for path in paths])


def _regions(names: list[str]) -> dict[str, np.ndarray]:
    """Each layer's region at the small painting's size (half the layer masks' size)."""
    masks = iio.imread(REPO_ROOT / "assets" / "sample_painting_layers.png")[::2, ::2]
    return {name: masks[..., "rgb".index(LAYERS[name][0][0])] > 127 for name in names}


def _info(entry: dict, prefix: str) -> str:
    return "\n".join(entry["outputs"][f"info_{prefix}"]["text"])


@pytest.mark.parametrize("names", [["lake", "sky"], ["waterfall", "lake", "sky"]], ids=["two", "three"])
def test_chained_text_flows_move_every_layer_in_one_loop(comfy_server, small_painting, names):
    entry = comfy_server.run_prompt(_layers_prompt(names), timeout=900)
    frames = _frames(comfy_server, entry, "stack")
    painting = iio.imread(comfy_server.input_dir / SMALL_PAINTING)[..., :3].astype(int)
    assert np.abs(frames[0] - painting).max() <= 1, "frame 0 is the picture"
    regions = _regions(names)
    kernel = np.ones((5, 5), np.uint8)
    for name, region in regions.items():
        core = cv2.erode(region.astype(np.uint8), kernel) > 0
        moved = np.abs(frames[FRAMES // 2][core] - frames[0][core]).mean()
        assert moved > 1.0, f"the {name} layer does not move ({moved:.2f}/255 mid-loop)"
    moving = cv2.dilate(np.any(list(regions.values()), axis=0).astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    assert np.array_equal(frames[:, ~moving], np.broadcast_to(frames[0][~moving], frames[:, ~moving].shape)), \
        "pixels far from every layer stay bit-exact"
    info = _info(entry, "stack")
    for index, name in enumerate(names):
        cycles = "1" if name == "sky" else "auto"
        assert re.search(rf"^layer {index + 1}: Text Flow #flow_{name}, border (behind|slip), cycles {cycles}$", info,
                         re.MULTILINE), info


def test_an_api_prompt_from_before_the_layer_inputs_runs_as_a_stick_layer(comfy_server, small_painting):
    prompt = {"img": {"class_type": "LoadImage", "inputs": {"image": SMALL_PAINTING}},
              "old": _text_flow(["img", 0], ["img", 1], text="a waterfall falling into a lake"),
              "stick": _text_flow(["img", 0], ["img", 1], text="a waterfall falling into a lake", border="stick",
                                  cycles="auto")}
    _loop(prompt, "old", "old", ["img", 0])
    _loop(prompt, "stick", "stick", ["img", 0])
    entry = comfy_server.run_prompt(prompt, timeout=900)
    old, stick = _frames(comfy_server, entry, "old"), _frames(comfy_server, entry, "stick")
    assert np.abs(old[FRAMES // 2] - old[0]).mean() > 0.2, "the painted water moves"
    assert np.array_equal(old, stick), "without `border` a Text Flow is the stick layer it always was"
    assert "layer 1: Text Flow #old, border stick, cycles auto" in _info(entry, "old")


def test_layers_of_different_pictures_are_refused_naming_both_nodes(comfy_server, small_painting):
    prompt = {"big": {"class_type": "LoadImage", "inputs": {"image": "sample_painting.png"}},
              "small": {"class_type": "LoadImage", "inputs": {"image": SMALL_PAINTING}},
              "below": _text_flow(["big", 0], ["big", 1], border="auto"),
              "above": _text_flow(["small", 0], ["small", 1], border="auto", layers=["below", 0])}
    _loop(prompt, "above", "mismatch", ["small", 0])
    with pytest.raises(RuntimeError, match=r"Text Flow #above is 256×384 but the layers below it "
                                           r"\(Text Flow #below\) are 512×768"):
        comfy_server.run_prompt(prompt, timeout=300)
