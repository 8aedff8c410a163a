"""T2C_TextFlow and T2C_FlowPreview inside the real ComfyUI (a lone Text Flow, chained Text Flows building a motion
layer stack, the refusals), and the painting chain LoadImage-style image + mask → T2C_TextFlow → T2C_Animate →
T2C_SaveCinemagraph."""

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from comfy_server import REPO_ROOT
from executor import executor_clone
from PIL import Image


def _painting():
    """The bundled sample painting as ComfyUI's LoadImage gives it: IMAGE and MASK = 1 − alpha."""
    rgba = np.asarray(Image.open(REPO_ROOT / "assets" / "sample_painting.png").convert("RGBA"), dtype=np.float32) / 255
    return torch.from_numpy(rgba[..., :3])[None], torch.from_numpy(1.0 - rgba[..., 3])[None]


def _run_text_flow(nodes, unique_id=None, **kwargs):
    """Text Flow as the executor runs it: a class clone holding the hidden inputs (its unique id)."""
    args = dict(text="", direction="auto (from text)", angle=270.0, strength=0.0, seed=0, arrows="",
                hint_px_per_frame=64.0)
    args.update(kwargs)
    node = nodes["T2C_TextFlow"]
    node = node if unique_id is None else executor_clone(node, {"UNIQUE_ID": unique_id})
    return node.execute(**args)


def _text_flow(nodes, **kwargs):
    """(the stack's single flow tensor, preview, info) of a lone Text Flow."""
    stack, preview, info = _run_text_flow(nodes, **kwargs).result
    return stack.combined(), preview, info


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
    output = _run_text_flow(t2c_nodes, image=batch, mask=mask)
    assert len(output.result) == 3
    assert set(output.ui) == {"t2c_editor_image", "t2c_editor_regions"}, \
        "not `images`: the frontend would draw a second preview"
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


# ------------------------------------------------------------------------------------------------ motion layers


def _bands(height=64, width=96):
    """Two masks that overlap in rows 28..35: water below (rows 28..), sky above (rows ..35)."""
    water, sky = torch.zeros(1, height, width), torch.zeros(1, height, width)
    water[:, 28:] = 1
    sky[:, :36] = 1
    return water, sky


def test_an_api_prompt_without_the_new_inputs_gets_the_flow_it_always_got(t2c_nodes, blob):
    from text2cinemagraph.models.checks import check_mask
    from text2cinemagraph.models.flow import engine
    from text2cinemagraph.nodes.types import image_to_bchw

    image, mask = blob
    stack, _, info = _run_text_flow(t2c_nodes, image=image, mask=mask, text="a river flowing to the left").result
    (layer,) = stack.layers
    assert layer.border == "stick" and layer.cycles is None
    assert stack.combined() is layer.flow, "a legacy one-layer stack animates its flow unchanged"
    before = engine.flow_from_text(image_to_bchw(image), check_mask(mask, "mask"), "a river flowing to the left").flow
    assert torch.equal(layer.flow, before)
    assert "layer 1: Text Flow, border stick, cycles auto" in info


def test_chained_text_flows_build_a_stack_bottom_first(t2c_nodes, blob, comfy_temp_dir):
    image, _ = blob
    water, sky = _bands()
    lower = _run_text_flow(t2c_nodes, "4", image=image, mask=water, text="a lake flowing to the left",
                           border="behind", cycles="2").result[0]
    output = _run_text_flow(t2c_nodes, "9", image=image, mask=sky, text="clouds drifting to the right",
                            layers=lower, border="slip", cycles="auto")
    stack, _, info = output.result
    assert [(layer.label, layer.border, layer.cycles) for layer in stack.layers] == [
        ("Text Flow #4", "behind", 2), ("Text Flow #9", "slip", None)]
    owner = stack.owner()[0, 0]
    assert owner[:28].eq(1).all() and owner[28:36].eq(1).all() and owner[36:].eq(0).all(), \
        "the upper layer owns the overlap"
    combined = stack.combined()[0, 0]
    assert (combined[:36] > 0).float().mean() > 0.9 and (combined[36:] < 0).float().mean() > 0.9
    assert "layer 1: Text Flow #4, border behind, cycles 2\nlayer 2: Text Flow #9, border slip, cycles auto" in info
    saved = output.ui["t2c_editor_regions"][0]
    overlay = np.asarray(Image.open(f"{comfy_temp_dir}/{saved['subfolder']}/{saved['filename']}"))
    assert overlay.shape == (64, 96, 4)
    assert (overlay[10, 48, 3] / 255) == pytest.approx(0.45, abs=0.01), "this node's region is tinted"
    assert overlay[50, 48, 3] == 0 and overlay[62, 48, 3] == 0, "the other layer is outlined, not filled"
    assert overlay[36, 48, 3] == 255, "the lower layer's visible edge is outlined"


def test_a_three_layer_chain_and_the_flow_preview_tints_every_layer(t2c_nodes, blob):
    from text2cinemagraph.models.flow.viz import LAYER_COLOURS, LAYER_TINT

    image, _ = blob
    stack = None
    for unique_id, rows, text in (("1", slice(0, 16), "to the left"), ("2", slice(24, 40), "to the right"),
                                  ("3", slice(48, 64), "upwards")):
        mask = torch.zeros(1, 64, 96)
        mask[:, rows] = 1
        stack = _run_text_flow(t2c_nodes, unique_id, image=image, mask=mask, text=f"water flowing {text}",
                               layers=stack, border="stick").result[0]
    assert len(stack.layers) == 3
    preview_node = t2c_nodes["T2C_FlowPreview"]
    tinted = preview_node.execute(flow=stack, arrows=False, max_px_per_frame=0.0).result[0][0]
    plain = preview_node.execute(flow=stack.combined(), arrows=False, max_px_per_frame=0.0).result[0][0]
    for index, row in enumerate((8, 32, 56)):
        expected = plain[row, 40:56] * (1 - LAYER_TINT) + torch.tensor(LAYER_COLOURS[index]) * LAYER_TINT
        torch.testing.assert_close(tinted[row, 40:56], expected)
    torch.testing.assert_close(tinted[20, 40:56], plain[20, 40:56], msg="no layer between the bands: untouched")
    assert not torch.allclose(tinted[16, 40:56], plain[16, 40:56]), "the layers' edges are outlined"


def test_layers_of_another_size_or_batch_are_refused_naming_both_nodes(t2c_nodes, blob):
    from text2cinemagraph.models.checks import InputShapeError

    image, mask = blob
    lower = _run_text_flow(t2c_nodes, "3", image=image, mask=mask).result[0]
    small = torch.nn.functional.interpolate(image.permute(0, 3, 1, 2), size=(32, 48)).permute(0, 2, 3, 1)
    with pytest.raises(InputShapeError, match=r"Text Flow #5 is 32×48 but the layers below it \(Text Flow #3\)"):
        _run_text_flow(t2c_nodes, "5", image=small, mask=mask, layers=lower)
    with pytest.raises(InputShapeError, match=r"Text Flow #6 has a batch of 3 .*\(Text Flow #3\) have 2"):
        pair = _run_text_flow(t2c_nodes, "3", image=torch.cat([image, image]), mask=mask).result[0]
        _run_text_flow(t2c_nodes, "6", image=torch.cat([image] * 3), mask=mask, layers=pair)


def test_a_layer_with_an_empty_mask_is_left_out_with_a_note(t2c_nodes, blob):
    image, mask = blob
    lower = _run_text_flow(t2c_nodes, "2", image=image, mask=mask).result[0]
    stack, _, info = _run_text_flow(t2c_nodes, "7", image=image, mask=torch.zeros(1, 64, 96), layers=lower,
                                    border="behind").result
    assert stack is lower
    assert "Text Flow #7: the mask is empty, so this layer was left out of the stack" in info


def test_more_than_eight_layers_and_unknown_choices_are_refused(t2c_nodes, blob):
    from text2cinemagraph.models.checks import InputValueError
    from text2cinemagraph.models.flow.layers import MAX_LAYERS

    image, mask = blob
    stack = None
    for unique_id in range(MAX_LAYERS):
        stack = _run_text_flow(t2c_nodes, str(unique_id), image=image, mask=mask, layers=stack,
                               border="stick").result[0]
    with pytest.raises(InputValueError, match=f"Text Flow #99: a stack holds at most {MAX_LAYERS} layers"):
        _run_text_flow(t2c_nodes, "99", image=image, mask=mask, layers=stack, border="stick")
    with pytest.raises(InputValueError, match="`border` is 'sideways'"):
        _run_text_flow(t2c_nodes, image=image, mask=mask, border="sideways")
    with pytest.raises(InputValueError, match="`cycles` is '5'"):
        _run_text_flow(t2c_nodes, image=image, mask=mask, cycles="5")


def test_border_auto_is_resolved_and_said_in_info(t2c_nodes, blob):
    image, mask = blob
    stack, _, info = _run_text_flow(t2c_nodes, image=image, mask=mask, text="a waterfall", border="auto").result
    (layer,) = stack.layers
    assert layer.border in ("behind", "slip", "stick")
    assert f"border auto → {layer.border}" in info, "info says what auto chose"
