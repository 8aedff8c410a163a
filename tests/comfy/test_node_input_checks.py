"""Hostile and careless inputs on the nodes (issue 22): each is refused with a message naming the node's input, what
is wrong and the fix, or warned about when the run cannot show what was asked; nothing wrong passes as success."""

import importlib
import logging

import pytest
import torch

from models.region.attention_capture import AttentionCapture
from planted_attention import planted_capture


@pytest.fixture()
def checks(t2c_pack):
    """The pack's own models.checks (loaded under the pack's name, so its classes are the ones raised)."""
    return importlib.import_module(f"{t2c_pack.__name__}.models.checks")


def _animate(nodes, **kwargs):
    args = dict(image=torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(0)),
                flow=torch.full((1, 2, 32, 32), 0.5), frames=4, speed=1.0, max_px_per_frame=0.0,
                integration="round", engine="sharp loop")
    args.update(kwargs)
    return nodes["T2C_Animate"].execute(**args).result[0]


# ---- item 4: Animate's mask is a 0..1 weight, checked, and applied before the guards -------------------------------

@pytest.mark.parametrize("value", [1e30, 255.0, -3.0, float("nan")])
@pytest.mark.parametrize("engine", ["sharp loop", "classic splat"])
def test_a_mask_outside_0_1_is_refused_naming_mask(t2c_nodes, checks, value, engine):
    mask = torch.ones(1, 32, 32)
    mask[:, 8:24, 8:24] = value
    fix = "fix the node that produced it" if value != value else r"divide a 0\.\.255 mask by 255"
    with pytest.raises(checks.InputValueError, match=rf"Animate `mask` .*0\.\.1.*{fix}"):
        _animate(t2c_nodes, mask=mask, engine=engine)


def test_a_soft_mask_in_0_1_still_scales_the_motion(t2c_nodes):
    half = _animate(t2c_nodes, flow=torch.full((1, 2, 32, 32), 2.0), mask=torch.full((1, 32, 32), 0.5),
                    engine="classic splat")
    reference = _animate(t2c_nodes, flow=torch.full((1, 2, 32, 32), 1.0), engine="classic splat")
    assert torch.allclose(half, reference)


# ---- item 7: motion that leaves the picture at once is not reported as motion -------------------------------------

@pytest.mark.parametrize("engine", ["sharp loop", "classic splat"])
def test_motion_that_leaves_the_picture_in_one_frame_is_warned_about(t2c_nodes, caplog, engine):
    """A 64² painting at strength 32, speed 10: every moving pixel leaves the picture in one step."""
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 0] = 32.0 * mask
    with caplog.at_level(logging.WARNING):
        frames = _animate(t2c_nodes, image=torch.rand(1, 64, 64, 3), flow=flow, mask=mask, speed=10.0, frames=6,
                          engine=engine)
    assert frames.shape == (6, 64, 64, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("speed" in w for w in warnings), warnings


def test_motion_that_stays_in_the_picture_is_not_warned_about(t2c_nodes, caplog):
    with caplog.at_level(logging.WARNING):
        _animate(t2c_nodes, engine="classic splat")
    assert not [r for r in caplog.records if "T2C_Animate" in r.getMessage()]


# ---- item 11: Region Mask refuses masks that do not go with the images ---------------------------------------------

def _region(nodes, **kwargs):
    args = dict(words="water", backend="auto", n_clusters=3, cluster_type="kmeans", threshold=0.7, erosion_ksize=5,
                erosion_iterations=0)
    args.update(kwargs)
    return nodes["T2C_RegionMask"].execute(**args).result


def test_region_mask_refuses_three_masks_for_two_images(t2c_nodes, checks):
    with pytest.raises(checks.InputShapeError, match=r"Region Mask: 3 masks for 2 images in `image`.*one `mask`"):
        _region(t2c_nodes, image=torch.rand(2, 32, 32, 3), mask=torch.ones(3, 32, 32))
    assert _region(t2c_nodes, image=torch.rand(2, 32, 32, 3), mask=torch.ones(1, 32, 32))[0].shape == (2, 32, 32)


def test_region_mask_on_a_tiny_twin_names_n_clusters(t2c_nodes, checks):
    """A 16² twin has a 1×1 attention grid: fewer tokens than clusters."""
    capture = planted_capture(torch.zeros(1, 1, dtype=torch.int64), (16, 16), rows=2)
    capture = AttentionCapture(capture.self_attn, capture.grid, capture.image_size, steps=1).validate()
    with pytest.raises(checks.InputValueError, match=r"n_clusters.*(larger|bigger|image)"):
        _region(t2c_nodes, image=torch.rand(1, 16, 16, 3), attention=capture, mask=torch.ones(1, 16, 16))


# ---- item 9: messages that name the input, not an internal -----------------------------------------------------------

@pytest.mark.parametrize("name", ["image", "flow", "mask", "video_model"])
def test_a_raw_list_at_an_animate_input_names_it(t2c_nodes, checks, name):
    with pytest.raises(checks.InputTypeError, match=rf"Animate `{name}`"):
        _animate(t2c_nodes, **{name: [[0.5]]})


@pytest.mark.parametrize(("node", "inputs"), [
    ("T2C_Animate", {}),
    ("T2C_TextFlow", dict(mask=torch.ones(1, 32, 32), text="water", direction="auto (from text)", angle=0.0,
                          strength=0.0, seed=0, arrows="")),
    ("T2C_RegionMask", dict(words="water", backend="auto", n_clusters=3, cluster_type="kmeans", threshold=0.7,
                            erosion_ksize=5, erosion_iterations=0, mask=torch.ones(1, 32, 32))),
])
def test_a_one_channel_image_names_the_node_and_input(t2c_nodes, checks, node, inputs):
    args = dict(image=torch.rand(1, 32, 32, 1))
    args.update(inputs)
    if node == "T2C_Animate":
        with pytest.raises(checks.InputShapeError, match=r"Animate `image` must be an IMAGE .*got shape"):
            _animate(t2c_nodes, **args)
        return
    with pytest.raises(checks.InputShapeError, match=r"(Text Flow|Region Mask) `image` must be an IMAGE .*got shape"):
        t2c_nodes[node].execute(**args)


def test_a_list_at_text_flow_mask_names_it(t2c_nodes, checks):
    with pytest.raises(checks.InputTypeError, match=r"Text Flow `mask`"):
        t2c_nodes["T2C_TextFlow"].execute(image=torch.rand(1, 32, 32, 3), mask=[[1.0]], text="water",
                                          direction="auto (from text)", angle=0.0, strength=0.0, seed=0, arrows="")


def test_arrows_with_a_5000_digit_number_say_what_is_wrong(t2c_nodes):
    text = "[[0.1, 0.2, " + "9" * 5000 + ", 0.4]]"
    message = t2c_nodes["T2C_TextFlow"].validate_inputs(arrows=text)
    assert isinstance(message, str) and message.startswith("arrows:") and "digits" in message
    assert "0..1" in message and "set_int_max_str_digits" not in message


@pytest.mark.parametrize(("scale", "flow_value"), [(1e-30, 1.0), (0.1, 1e38)])
def test_flow_preview_draws_arrows_for_any_allowed_scale(t2c_nodes, scale, flow_value):
    flow = torch.zeros(1, 2, 48, 48)
    flow[:, 0, 8:40, 8:40] = flow_value
    preview = t2c_nodes["T2C_FlowPreview"].execute(flow=flow, arrows=True, max_px_per_frame=scale).result[0]
    assert preview.shape == (1, 48, 48, 3) and torch.isfinite(preview).all()
    assert 0 <= preview.min() and preview.max() <= 1


def test_flow_preview_batch_mismatch_names_image(t2c_nodes, checks):
    with pytest.raises(checks.InputShapeError, match=r"Flow Preview: 3 images in `image` for 2 flows"):
        t2c_nodes["T2C_FlowPreview"].execute(flow=torch.zeros(2, 2, 16, 16), arrows=True, max_px_per_frame=0.0,
                                             image=torch.rand(3, 16, 16, 3))


# ---- item 10: Flow Preview honours Cancel within its full-size steps ------------------------------------------------

@pytest.mark.parametrize("image", [False, True])
def test_flow_preview_honours_cancel(t2c_nodes, image):
    import comfy.model_management

    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 0, 16:48] = 1.0
    extra = {"image": torch.rand(1, 64, 64, 3)} if image else {}
    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            t2c_nodes["T2C_FlowPreview"].execute(flow=flow, arrows=True, max_px_per_frame=0.0, **extra)
    finally:
        comfy.model_management.interrupt_current_processing(False)
