"""T2C_TextFlow and T2C_FlowPreview inside the real ComfyUI, and the painting chain
LoadImage-style image + mask → T2C_TextFlow → T2C_Animate → T2C_SaveCinemagraph."""

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from comfy_server import REPO_ROOT
from PIL import Image


def _painting():
    """The bundled sample painting as ComfyUI's LoadImage gives it: IMAGE and MASK = 1 − alpha."""
    rgba = np.asarray(Image.open(REPO_ROOT / "assets" / "sample_painting.png").convert("RGBA"), dtype=np.float32) / 255
    return torch.from_numpy(rgba[..., :3])[None], torch.from_numpy(1.0 - rgba[..., 3])[None]


def _text_flow(nodes, **kwargs):
    args = dict(text="", direction="auto (from text)", angle=270.0, strength=0.0, seed=0, arrows="",
                hint_px_per_frame=64.0)
    args.update(kwargs)
    return nodes["T2C_TextFlow"].execute(**args).result


def _mean_angle(flow, mask):
    inside = mask[0] > 0.5
    vx, vy = flow[0, 0][inside].mean().item(), flow[0, 1][inside].mean().item()
    return math.degrees(math.atan2(-vy, vx)) % 360


def _angle_gap(a, b):
    return abs((a - b + 180) % 360 - 180)


@pytest.fixture(scope="module")
def blob():
    image = torch.rand(1, 64, 96, 3, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, 64, 96)
    mask[:, 16:48, 24:72] = 1
    return image, mask


@pytest.mark.parametrize(("kwargs", "expected"), [
    (dict(text="a river flowing to the left"), 180.0),
    (dict(text="smoke rising", direction="upwards"), 90.0),
    (dict(direction="custom angle", angle=-45.0), 315.0),  # wrapped into [0, 360)
    (dict(text="a tall waterfall"), 270.0),
])
def test_text_flow_direction_sources(t2c_nodes, blob, kwargs, expected):
    image, mask = blob
    flow, preview, info = _text_flow(t2c_nodes, image=image, mask=mask, **kwargs)
    assert flow.shape == (1, 2, 64, 96) and flow.dtype == torch.float32
    assert torch.all(flow[:, :, mask[0] < 0.5] == 0), "flow must be exactly zero outside the mask"
    assert _angle_gap(_mean_angle(flow, mask), expected) < 15
    assert preview.shape == (1, 64, 96, 3) and "learning-free" in info


def test_text_flow_arrows_steer_and_bad_json_is_a_validation_error(t2c_nodes, blob):
    image, mask = blob
    arrows = json.dumps({"arrows": [[0.3, 0.5, 0.7, 0.5]], "anchors": []})
    flow, _, info = _text_flow(t2c_nodes, image=image, mask=mask, text="waterfall", arrows=arrows)
    assert _angle_gap(_mean_angle(flow, mask), 0.0) < 15 and "arrows" in info
    message = t2c_nodes["T2C_TextFlow"].validate_inputs(arrows="[[0.1, 0.2, 0.3]]")
    assert isinstance(message, str) and message.startswith("arrows:")
    assert t2c_nodes["T2C_TextFlow"].validate_inputs(arrows="") is True


def test_text_flow_sends_its_input_picture_to_the_motion_editor(t2c_nodes, blob, comfy_temp_dir):
    image, mask = blob
    batch = torch.cat([image, 1 - image])
    output = t2c_nodes["T2C_TextFlow"].execute(image=batch, mask=mask, text="", direction="auto (from text)",
                                               angle=270.0, strength=0.0, seed=0, arrows="", hint_px_per_frame=64.0)
    assert len(output.result) == 3
    assert set(output.ui) == {"t2c_editor_image"}, "not `images`: the frontend would draw a second preview"
    (saved,) = output.ui["t2c_editor_image"]  # the first picture of the batch only
    assert saved["type"] == "temp" and saved["filename"].endswith(".png")
    png = np.asarray(Image.open(f"{comfy_temp_dir}/{saved['subfolder']}/{saved['filename']}").convert("RGB"))
    assert np.abs(png.astype(np.float32) - (image[0].numpy() * 255).round()).max() <= 1


def test_text_flow_empty_mask_gives_zero_flow_and_a_warning(t2c_nodes, blob):
    image, _ = blob
    flow, _, info = _text_flow(t2c_nodes, image=image, mask=torch.zeros(1, 64, 96), text="waterfall")
    assert torch.count_nonzero(flow) == 0 and "empty" in info


def test_text_flow_without_conditioning_for_text_network_is_a_clear_error():
    from text2cinemagraph.nodes.flow import sd1_context

    with pytest.raises(ValueError, match="CLIPTextEncode"):
        sd1_context(None)
    with pytest.raises(ValueError, match="Text Flow `conditioning` must be SD1.x text embeddings \\[B, 77·k, 768\\]"):
        sd1_context([[torch.zeros(1, 77, 1024), {}]])
    assert sd1_context([[torch.zeros(2, 154, 768), {}]]).shape == (2, 77, 768)


def test_flow_preview_node(t2c_nodes, blob):
    image, mask = blob
    flow = _text_flow(t2c_nodes, image=image, mask=mask, text="flowing to the right")[0]
    preview = t2c_nodes["T2C_FlowPreview"].execute(flow=flow, arrows=True, max_px_per_frame=0.0).result[0]
    over_image = t2c_nodes["T2C_FlowPreview"].execute(flow=flow, arrows=False, max_px_per_frame=2.0,
                                                      image=image).result[0]
    assert preview.shape == over_image.shape == (1, 64, 96, 3)
    assert torch.allclose(preview[0, 0, 0], torch.ones(3)), "zero flow is white on the colour wheel"
    assert torch.equal(over_image, image)  # no arrows requested: the image itself


def test_painting_chain_to_saved_loop(t2c_nodes, comfy_output_dir, artifacts_dir):
    image, mask = _painting()
    flow, preview, info = _text_flow(t2c_nodes, image=image, mask=mask, text="a waterfall falling into a lake")
    frames = t2c_nodes["T2C_Animate"].execute(image=image, flow=flow, frames=30, speed=1.0, max_px_per_frame=0.0,
                                              integration="round", mask=mask).result[0]
    assert frames.shape == (30, 512, 768, 3)
    still = (mask[0] < 0.5) & (torch.nn.functional.max_pool2d(mask[None], 9, 1, 4)[0, 0] < 0.5)
    assert torch.equal(frames[:, still], image[0][still].expand(30, -1, -1)), "still region must be bit-exact"
    moving = mask[0] > 0.5
    assert (frames[15][moving] - image[0][moving]).abs().mean() > 0.01, "the water must visibly move"
    saved = t2c_nodes["T2C_SaveCinemagraph"].execute(frames=frames, filename_prefix="painting", fps=30.0,
                                                     format="mp4", quality=90).ui.as_dict()["images"][0]
    assert iio.imread(comfy_output_dir / saved["filename"], plugin="pyav").shape == (30, 512, 768, 3)
    Image.fromarray((preview[0].numpy() * 255).astype(np.uint8)).save(artifacts_dir / "painting_flow_preview.png")
    strip = torch.cat([frames[i] for i in (0, 10, 20)], dim=1)
    Image.fromarray((strip.numpy() * 255).round().astype(np.uint8)).save(artifacts_dir / "painting_frames.png")
