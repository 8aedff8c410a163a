"""Motion layers in the sharp loop: behind a still bar, per-layer cycles, ownership, the single-flow API."""

import math

import pytest
import torch

from models.checks import InputValueError
from models.flow.layers import FlowLayer, FlowStack, as_stack, prepare_stack
from models.loop import common
from models.loop.border_feather import FEATHER_PX
from models.loop.broad_band import BroadBand
from models.loop.sharp_loop import make_plan, render_sharp_loop
from models.loop.sharp_stack import StackPlan

HEIGHT, WIDTH, PERIOD = 24, 96, 8
BAND, BAR = slice(4, 20), slice(60, 66)
FEATHER_DEPTH = math.ceil(FEATHER_PX + 0.5)
"""Pixels this far from still ones are not feathered (tests/unit/test_border_feather.py)."""


def striped_picture() -> torch.Tensor:
    """Green stripes of PERIOD px across a black picture; a red still bar across the band."""
    stripes = 0.5 + 0.4 * torch.sin(2 * torch.pi * torch.arange(WIDTH, dtype=torch.float32) / PERIOD)
    image = torch.zeros(1, 3, HEIGHT, WIDTH)
    image[:, 1] = stripes
    image[:, 0, BAND, BAR] = 1.0
    return image


def band_layer(speed: float, rows=BAND, border="behind", cycles=None, label="water", bar=True) -> FlowLayer:
    mask = torch.zeros(1, 1, HEIGHT, WIDTH)
    mask[..., rows, :] = 1.0
    if bar:
        mask[..., BAR] = 0.0
    flow = torch.zeros(1, 2, HEIGHT, WIDTH)
    flow[:, 0] = speed * mask[:, 0]
    return FlowLayer(flow=flow, mask=mask, border=border, cycles=cycles, label=label)


def test_a_periodic_texture_passes_behind_a_still_bar_exactly_outside_its_transitions():
    image, n_frames = striped_picture(), 16
    layer = band_layer(1.0)
    stack = FlowStack((layer,))
    plan = make_plan(stack, n_frames)
    frames = render_sharp_loop(image, stack, n_frames, plan=plan)[0]
    still = image[0].permute(1, 2, 0)
    owned = layer.region()[0, 0]
    assert torch.equal(frames[0], still)
    for frame in frames:  # the bar and everything outside the band: bit-exact; no red carried into the water
        assert torch.equal(frame[~owned], still[~owned])
        assert frame[owned][:, 0].eq(0).all()
    # Up to the bar at full speed: the pixels just before it (and its feather) show the stripes moved by t, nothing
    # piles up. Where one phase holds for most of the cycle (here, next to the bar) the broad band (σ = 16 px) takes
    # the balanced cross-fade (models/loop/broad_band.py): a convex blend of the broad band less another, so it can
    # move a pixel by at most the broad band's own ripple (8-px stripes are flat to it far from the bar; cut by the
    # bar, a part of a period is left in the blur).
    broad = BroadBand(image[0], owned).grid.rows[:, 1]
    ripple = float(broad.max() - broad.min())
    assert ripple < 0.03  # a bound worth testing: under a tenth of the stripes' amplitude (0.4)
    water = plan.layers[0].plan
    before = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)  # just outside the feather along the still's edges
    edge = BAR.start - FEATHER_DEPTH
    before[BAND.start + FEATHER_DEPTH: BAND.stop - FEATHER_DEPTH, edge - 3: edge] = True
    index = before.flatten().nonzero().squeeze(1)
    at = torch.searchsorted(water.sources, index)
    start, fade_start = water.start[0, 0, at], water.fade_start[0, 0, at]
    checked = 0
    for t in range(1, n_frames):
        forward_only = (t <= start) & (t <= fade_start)
        expected = torch.roll(still, shifts=t, dims=1).reshape(-1, 3)[index]
        got = frames[t].reshape(-1, 3)[index]
        torch.testing.assert_close(got[forward_only], expected[forward_only], atol=ripple, rtol=0)
        checked += int(forward_only.sum())
    assert checked >= int(before.sum())  # the forward phase covers the first frames of every checked pixel


def test_a_gradient_keeps_its_brightness_where_it_comes_out_from_behind_a_still_bar():
    """Texture moving right through a sky that brightens to the right: next to the bar one phase holds for most of the
    cycle (upstream the forward phase, the backward one reads behind the bar; downstream the other way round) and
    read alone it shows the gradient i·v or (L − i)·v px away: a strip darker or brighter than the still (up to
    g·v·L/2 over the loop for a switch at either end of the cycle). The broad band's cross-fade at rate i/L keeps a
    linear gradient; what is left (its blur within the layer, the weight that fades it in) stays under a tenth of
    that."""
    height, width, n_frames, speed = 32, 128, 24, 1.5
    band, bar = slice(4, 28), slice(56, 72)
    slope = 0.6 / width
    image = (0.2 + slope * torch.arange(width, dtype=torch.float32)).expand(1, 3, height, width).clone()
    image[:, 0, band, bar] = 1.0
    mask = torch.zeros(1, 1, height, width)
    mask[..., band, :] = 1.0
    mask[..., band, bar] = 0.0
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0] = speed * mask[:, 0]
    stack = FlowStack((FlowLayer(flow=flow, mask=mask, border="behind", cycles=1, label="sky"),))
    frames = render_sharp_loop(image, stack, n_frames)[0]
    drift = (frames - frames[0]).mean(dim=0)[band.start + FEATHER_DEPTH: band.stop - FEATHER_DEPTH, :, 1]
    one_phase = slope * speed * n_frames / 2
    upstream = drift[:, bar.start - FEATHER_DEPTH - 20: bar.start - FEATHER_DEPTH].mean(dim=0)
    downstream = drift[:, bar.stop + FEATHER_DEPTH: bar.stop + FEATHER_DEPTH + 20].mean(dim=0)
    assert float(upstream.abs().max()) < one_phase / 10  # the phases alone: 0.83 of it on either side
    assert float(downstream.abs().max()) < one_phase / 10


def test_a_k_cycle_layer_returns_to_the_still_every_n_over_k_frames():
    image, n_frames = striped_picture(), 36
    water = band_layer(1.0, rows=slice(12, 20), border="slip", cycles=3, bar=False)
    sky = band_layer(-0.5, rows=slice(0, 8), border="slip", cycles=1, label="sky", bar=False)
    stack = FlowStack((water,)).push(sky)
    frames = render_sharp_loop(image, stack, n_frames)[0]
    still = image[0].permute(1, 2, 0)
    rows_water, rows_sky = slice(12, 20), slice(0, 8)
    for t in (0, 12, 24):
        assert torch.equal(frames[t, rows_water], still[rows_water])
    assert not torch.equal(frames[6, rows_water], still[rows_water])
    assert not torch.equal(frames[12, rows_sky], still[rows_sky])  # the sky's one cycle goes on
    assert torch.equal(frames[:, 8:12], still[8:12].expand(n_frames, -1, -1, -1))


def test_where_masks_overlap_the_pixel_follows_the_upper_layer_only():
    image, n_frames = striped_picture(), 12
    upper = band_layer(-1.0, rows=slice(10, 20), border="stick", label="upper", bar=False)
    right = FlowStack((band_layer(1.0, rows=slice(2, 14), border="stick", label="lower", bar=False),)).push(upper)
    down = FlowStack((band_layer(0.0, rows=slice(2, 14), border="stick", label="lower", bar=False),)).push(upper)
    plan = make_plan(right, n_frames)
    lower_rows = torch.div(plan.layers[0].plan.sources, WIDTH, rounding_mode="floor")
    assert lower_rows.max() == 9  # rows 10–13 belong to the upper layer
    first, second = render_sharp_loop(image, right, n_frames)[0], render_sharp_loop(image, down, n_frames)[0]
    assert torch.equal(first[:, 10:20], second[:, 10:20])
    assert not torch.equal(first[:, 2:10], second[:, 2:10])


def test_a_plain_flow_and_its_one_layer_stack_render_the_same():
    image = striped_picture()
    flow = band_layer(0.7, bar=False).flow
    assert as_stack(flow).is_single_flow()
    torch.testing.assert_close(render_sharp_loop(image, as_stack(flow), 10), render_sharp_loop(image, flow, 10),
                               atol=0, rtol=0)


def test_notes_for_an_empty_layer_and_cycles_that_do_not_fit():
    empty = band_layer(1.0, rows=slice(0, 0), label="Text Flow #3", bar=False)
    stack = FlowStack((band_layer(1.0, cycles=4, label="Text Flow #1"),)).push(empty)
    plan = make_plan(stack, 30)
    assert isinstance(plan, StackPlan) and len(plan.layers) == 1
    assert any("Text Flow #3" in n and "skipped" in n for n in plan.notes)
    assert any("not divisible by 4" in n for n in plan.notes)
    assert plan.layers[0].plan.bounds == (0, 8, 15, 22, 30)
    many = make_plan(FlowStack((band_layer(1.0, cycles=4, label="fast"),)), 6)
    assert any("4 cycles do not fit 6 frames" in n for n in many.notes)
    assert len(many.layers[0].plan.bounds) == 4


def test_animate_mask_multiplies_every_layer():
    stack = FlowStack((band_layer(1.0, rows=slice(0, 12), bar=False),)).push(
        band_layer(-1.0, rows=slice(12, 24), label="sky", bar=False))
    keep_left = torch.zeros(1, 1, HEIGHT, WIDTH)
    keep_left[..., : WIDTH // 2] = 1.0
    prepared = prepare_stack(stack, (HEIGHT, WIDTH), 1, keep_left, 2.0, 0.0)
    for layer in prepared.layers:
        assert layer.flow[..., WIDTH // 2:].eq(0).all() and layer.mask[..., WIDTH // 2:].eq(0).all()
        assert layer.flow.abs().max() == 2.0


def test_a_plan_for_another_stack_or_a_single_flow_is_refused():
    image = striped_picture()
    stack = FlowStack((band_layer(1.0),))
    other = FlowStack((band_layer(-1.0),))
    with pytest.raises(InputValueError, match="another flow"):
        render_sharp_loop(image, other, 8, plan=make_plan(stack, 8))
    with pytest.raises(InputValueError, match="motion-layer stack"):
        render_sharp_loop(image, stack.layers[0].flow, 8, plan=make_plan(stack, 8))
    with pytest.raises(InputValueError, match="per layer"):
        make_plan(stack, 8, cycles=2)


def test_a_behind_layer_holds_at_most_one_frame_more_than_a_slipping_one():
    """Issue 19: peak memory grows by at most one frame-sized buffer per layer. A ``behind`` layer's plan and
    renderer hold its nearest-pixel map (a third of a frame) and the balanced broad band's grids and pixel list, not
    an extended flow or a negated copy of its flow (a whole frame and two thirds more before): counted from the
    objects at every frame of the loop, against the same layer slipping. A realistic mask: a sky moving into a still
    block, so a quarter to a half of the layer takes the balanced broad band."""
    from peak_memory import held_bytes

    size, n_frames = 96, 24
    mask = torch.zeros(1, 1, size, size)
    mask[..., :60, :] = 1.0
    mask[..., 24:60, 56:76] = 0.0  # the still block the sky passes behind
    flow = torch.zeros(1, 2, size, size)
    flow[:, 0] = 1.5 * mask[:, 0]
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    held = {border: held_bytes(image, FlowStack((FlowLayer(flow=flow, mask=mask, border=border, label="sky"),)),
                               n_frames, [image, flow, mask]) for border in ("behind", "slip")}
    extra, frame_bytes = held["behind"] - held["slip"], size * size * 3 * 4
    assert size * size * 4 <= extra <= frame_bytes, f"a behind layer holds {extra / frame_bytes:.2f} frames more"


def test_a_stack_rendered_in_chunks_is_the_stack_rendered_whole(monkeypatch):
    """Every layer's pixels are rendered in chunks of CHUNK_PIXELS (its feather and balanced broad band split with
    them): the frames are the same to the bit."""
    image = striped_picture()
    stack = FlowStack((band_layer(1.0), band_layer(-0.5, rows=slice(0, 4), border="slip", label="sky", bar=False)))
    whole = render_sharp_loop(image, stack, 12)
    monkeypatch.setattr(common, "CHUNK_PIXELS", 97)  # a prime: chunks end anywhere, feathers and balances split
    assert torch.equal(render_sharp_loop(image, stack, 12), whole)
