"""T2C_Animate inside the real ComfyUI, alone and feeding T2C_SaveCinemagraph."""

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image


def _image(h=40, w=56, batch=1, seed=0):
    return torch.rand(batch, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _flow(h, w, dx=1.0, dy=0.0, batch=1):
    flow = torch.zeros(batch, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def _animate(nodes, **kwargs):
    args = dict(frames=8, speed=1.0, max_px_per_frame=0.0, integration="round")
    args.update(kwargs)
    return nodes["T2C_Animate"].execute(**args).result[0]


def test_animate_outputs_image_batch_starting_at_the_input(t2c_nodes):
    image = _image()
    frames = _animate(t2c_nodes, image=image, flow=_flow(40, 56), frames=12)
    assert frames.shape == (12, 40, 56, 3) and frames.dtype == torch.float32
    assert torch.equal(frames[0], image[0])
    assert torch.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1


def test_mask_restricts_motion_and_outside_stays_bit_exact(t2c_nodes):
    image = _image(32, 48)
    mask = torch.zeros(1, 16, 24)  # another size: resized to the image
    mask[:, :, 12:] = 1.0
    frames = _animate(t2c_nodes, image=image, flow=_flow(32, 48, dx=2.0), mask=mask, frames=10)
    # The left third never receives moving content (motion goes right), so it is untouched in every frame.
    assert torch.equal(frames[:, :, :16], image[:, :, :16].expand(10, -1, -1, -1))
    assert not torch.equal(frames[5, :, 30:], image[0, :, 30:])


def test_flow_of_another_size_is_resized_with_its_vectors(t2c_nodes):
    image = _image(40, 40)
    small = _flow(20, 20, dx=0.5)  # 0.5 px/frame at half size = 1 px/frame at full size
    full = _flow(40, 40, dx=1.0)
    assert torch.allclose(_animate(t2c_nodes, image=image, flow=small), _animate(t2c_nodes, image=image, flow=full))


def test_speed_and_clamp(t2c_nodes):
    image = _image(24, 24)
    slow = _animate(t2c_nodes, image=image, flow=_flow(24, 24, dx=4.0), speed=0.25)
    clamped = _animate(t2c_nodes, image=image, flow=_flow(24, 24, dx=4.0), max_px_per_frame=1.0)
    reference = _animate(t2c_nodes, image=image, flow=_flow(24, 24, dx=1.0))
    assert torch.allclose(slow, reference) and torch.allclose(clamped, reference)


def test_zero_flow_gives_a_still_loop(t2c_nodes):
    image = _image(17, 23)
    frames = _animate(t2c_nodes, image=image, flow=_flow(17, 23, dx=0.0), frames=5)
    assert torch.equal(frames, image.expand(5, -1, -1, -1))


def test_batch_of_images_with_one_flow_broadcasts(t2c_nodes):
    images = _image(20, 30, batch=3)
    frames = _animate(t2c_nodes, image=images, flow=_flow(20, 30), frames=4)
    assert frames.shape == (12, 20, 30, 3)
    for b in range(3):
        assert torch.equal(frames[4 * b], images[b])


def test_bad_flows_get_clear_errors(t2c_nodes):
    image = _image(16, 16)
    nan_flow = _flow(16, 16)
    nan_flow[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN|finite"):
        _animate(t2c_nodes, image=image, flow=nan_flow)
    with pytest.raises(ValueError, match="one flow, or one per image"):
        _animate(t2c_nodes, image=_image(16, 16, batch=2), flow=_flow(16, 16, batch=3))
    with pytest.raises(ValueError, match="T2C_FLOW"):
        _animate(t2c_nodes, image=image, flow=torch.zeros(1, 3, 16, 16))


def test_frames_limits_are_validated_by_the_schema(t2c_nodes):
    frames_input = next(i for i in t2c_nodes["T2C_Animate"].define_schema().inputs if i.id == "frames")
    assert (frames_input.min, frames_input.max, frames_input.default) == (2, 1000, 60)


def test_animate_then_save_decodes_as_a_loop(t2c_nodes, comfy_output_dir):
    h, w = 45, 61  # odd, non-square
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    image = torch.stack([(torch.sin(xx / 3.0) + 1) / 2, (torch.cos(yy / 4.0) + 1) / 2,
                         torch.full((h, w), 0.5)], dim=-1)[None]
    frames = _animate(t2c_nodes, image=image, flow=_flow(h, w, dx=1.0, dy=0.5), frames=16)
    for fmt in ("mp4", "gif", "webp"):
        saved = t2c_nodes["T2C_SaveCinemagraph"].execute(
            frames=frames, filename_prefix="anim", fps=30.0, format=fmt, quality=95).ui.as_dict()["images"][0]
        path = comfy_output_dir / saved["filename"]
        if fmt == "mp4":
            decoded = iio.imread(path, plugin="pyav")
            assert decoded.shape[0] == 16 and decoded.shape[1:3] == (46, 62)
            first = decoded[0, :h, :w].astype(float) / 255
            assert np.abs(first - image[0].numpy()).mean() < 0.03  # lossy, but it is our first frame
        else:
            with Image.open(path) as decoded:
                assert decoded.n_frames == 16 and decoded.size == (w, h) and decoded.info.get("loop") == 0


def test_engine_defaults_to_sharp_loop_and_comes_after_the_older_widgets(t2c_nodes):
    inputs = t2c_nodes["T2C_Animate"].define_schema().inputs
    names = [i.id for i in inputs]
    engine = next(i for i in inputs if i.id == "engine")
    assert engine.default == "sharp loop" and engine.optional
    # Saved workflows list widget values by position: the new widget must not shift the older ones.
    assert names.index("engine") > names.index("integration")


def test_a_prompt_without_engine_renders_with_the_classic_splat_as_before(t2c_nodes):
    image = _image(32, 40)
    flow = _flow(32, 40, dx=1.3, dy=0.4)
    legacy = _animate(t2c_nodes, image=image, flow=flow)
    assert torch.equal(legacy, _animate(t2c_nodes, image=image, flow=flow, engine="classic splat"))
    sharp = _animate(t2c_nodes, image=image, flow=flow, engine="sharp loop")
    assert not torch.equal(sharp, legacy)


def test_sharp_loop_through_the_node_starts_at_the_input_and_keeps_still_pixels(t2c_nodes):
    image = _image(32, 48)
    mask = torch.zeros(1, 32, 48)
    mask[:, 8:24, 10:40] = 1.0
    frames = _animate(t2c_nodes, image=image, flow=_flow(32, 48, dx=1.0), mask=mask, frames=10, engine="sharp loop")
    assert torch.equal(frames[0], image[0])
    still = mask[0] == 0
    assert torch.equal(frames[:, still], image[0][still].expand(10, -1, -1))
    assert torch.isfinite(frames).all()


def test_sharp_loop_warns_when_texture_must_travel_out_of_its_region(t2c_nodes, caplog):
    image = _image(40, 40)
    mask = torch.zeros(1, 40, 40)
    mask[:, 10:30, 10:30] = 1.0
    with caplog.at_level("WARNING"):
        _animate(t2c_nodes, image=image, flow=_flow(40, 40, dx=3.0), mask=mask, frames=60, engine="sharp loop")
    assert "fewer frames or a lower speed" in caplog.text


def test_an_unknown_engine_is_refused_by_name(t2c_nodes):
    with pytest.raises(ValueError, match="engine"):
        _animate(t2c_nodes, image=_image(16, 16), flow=_flow(16, 16), engine="warp drive")


def _stack(h, w, cycles=(None, None)):
    """Two motion layers: the top half moves right, the bottom half (a still bar in its middle) left."""
    from text2cinemagraph.models.flow.layers import FlowLayer, FlowStack  # the classes the loaded pack uses

    layers = []
    for k, (rows, dx, border) in enumerate(((slice(0, h // 2), 1.0, "slip"), (slice(h // 2, h), -1.0, "behind"))):
        mask = torch.zeros(1, 1, h, w)
        mask[..., rows, :] = 1.0
        mask[..., h // 2 + 2:, w // 2 - 3: w // 2 + 3] = 0.0  # the still bar
        flow = torch.zeros(1, 2, h, w)
        flow[:, 0] = dx * mask[:, 0]
        layers.append(FlowLayer(flow=flow, mask=mask, border=border, cycles=cycles[k], label=f"Text Flow #{k + 1}"))
    return FlowStack(tuple(layers))


def test_a_stack_of_motion_layers_renders_each_layer_with_the_sharp_loop(t2c_nodes, caplog):
    image = _image(32, 48)
    stack = _stack(32, 48, cycles=(1, 3))
    with caplog.at_level("INFO"):
        frames = _animate(t2c_nodes, image=image, flow=stack, frames=10, engine="sharp loop")
    assert torch.equal(frames[0], image[0])
    bar = torch.zeros(32, 48, dtype=torch.bool)
    bar[18:, 21:27] = True
    assert torch.equal(frames[:, bar], image[0][bar].expand(10, -1, -1))
    assert not torch.equal(frames[5, :16], image[0, :16]) and not torch.equal(frames[2, 16:], image[0, 16:])
    assert "not divisible by 3" in caplog.text and "Text Flow #2" in caplog.text


def test_the_classic_engine_renders_a_stack_as_its_combined_flow_and_says_so(t2c_nodes, caplog):
    image = _image(32, 48)
    stack = _stack(32, 48)
    with caplog.at_level("INFO"):
        frames = _animate(t2c_nodes, image=image, flow=stack, frames=8, engine="classic splat")
    assert "combined flow of the 2 motion layer(s)" in caplog.text
    assert torch.equal(frames, _animate(t2c_nodes, image=image, flow=stack.combined(), frames=8,
                                        engine="classic splat"))
