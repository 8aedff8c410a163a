"""Flow pictures: Middlebury colour wheel (Baker et al. 2011), arrow overlays and hint drawings."""

import math

import cv2
import numpy as np
import pytest
import torch

from models.flow.hints import MotionHints
from models.flow.viz import draw_flow_arrows, draw_motion_hints, flow_to_color, wheel_colors


def uniform_flow(u, v, height=8, width=8):
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0], flow[:, 1] = u, v
    return flow


def hue_degrees(rgb):
    """OpenCV hue (0..360) of one RGB colour in 0..1."""
    pixel = np.array([[rgb]], dtype=np.float32)
    return float(cv2.cvtColor(pixel, cv2.COLOR_RGB2HSV)[0, 0, 0])


def test_wheel_has_the_published_ramps():
    wheel = wheel_colors()
    assert wheel.shape == (55, 3)
    # ramp starts: red 0, yellow 15, green 21, cyan 25, blue 36, magenta 49 (RY 15, YG 6, GC 4, CB 11, BM 13, MR 6)
    for index, color in [(0, (1, 0, 0)), (15, (1, 1, 0)), (21, (0, 1, 0)), (25, (0, 1, 1)), (36, (0, 0, 1)),
                         (49, (1, 0, 1))]:
        assert wheel[index].tolist() == list(color)
    assert wheel.min() >= 0 and wheel.max() <= 1


@pytest.mark.parametrize(
    ("u", "v", "lo", "hi"),
    [
        (1, 0, -5, 5),  # right → red
        (0, 1, 40, 70),  # down (y down) → orange-yellow
        (-1, 0, 180, 200),  # left → cyan-blue
        (0, -1, 250, 280),  # up → violet
    ],
)
def test_known_directions_map_to_the_expected_hues(u, v, lo, hi):
    color = flow_to_color(uniform_flow(u, v))[0, :, 4, 4].tolist()
    hue = hue_degrees(color)
    hue = hue - 360 if hue > 300 else hue
    assert lo <= hue <= hi, hue


def test_four_directions_are_distinct_and_stable():
    colors = [flow_to_color(uniform_flow(u, v))[0, :, 0, 0] for u, v in [(1, 0), (0, 1), (-1, 0), (0, -1)]]
    for i in range(4):
        for j in range(i + 1, 4):
            assert (colors[i] - colors[j]).abs().max() > 0.4
    assert torch.equal(colors[0], flow_to_color(uniform_flow(1, 0))[0, :, 0, 0])


def test_hue_turns_monotonically_around_the_wheel():
    angles = np.arange(0, 360, 15)
    flow = torch.stack([torch.tensor(np.cos(np.radians(angles))), torch.tensor(-np.sin(np.radians(angles)))])
    colors = flow_to_color(flow[None, :, None, :].float())[0, :, 0].T.tolist()
    hues = np.unwrap(np.radians([hue_degrees(c) for c in colors]))
    assert np.all(np.diff(hues) < 0)  # counter-clockwise motion runs red → magenta → blue → cyan → green → yellow
    assert hues[0] - hues[-1] > 2 * math.pi * 0.8


def test_zero_flow_is_white():
    assert torch.equal(flow_to_color(torch.zeros(2, 2, 5, 7)), torch.ones(2, 3, 5, 7))


def test_saturation_grows_with_speed_and_overspeed_darkens():
    flow = torch.zeros(1, 2, 1, 4)
    flow[0, 0] = torch.tensor([0.0, 0.5, 1.0, 2.0])
    color = flow_to_color(flow, max_magnitude=1.0)[0, :, 0]
    assert color[:, 0].tolist() == [1, 1, 1]
    assert color[:, 1].tolist() == pytest.approx([1, 0.5, 0.5])  # half saturated red
    assert color[:, 2].tolist() == [1, 0, 0]  # pure red at the normalising speed
    assert color[:, 3].tolist() == [0.75, 0, 0]  # faster than the normaliser: darkened


def test_default_normalisation_is_per_item():
    flow = torch.cat([uniform_flow(1, 0), uniform_flow(5, 0)])
    color = flow_to_color(flow)
    assert torch.equal(color[0], color[1])


def test_output_range_shape_and_dtype():
    flow = torch.randn(3, 2, 17, 23, generator=torch.Generator().manual_seed(0)) * 4
    color = flow_to_color(flow)
    assert color.shape == (3, 3, 17, 23) and color.dtype == torch.float32
    assert color.min() >= 0 and color.max() <= 1


def test_flow_to_color_validates():
    with pytest.raises(ValueError, match="2 channels"):
        flow_to_color(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="max_magnitude"):
        flow_to_color(torch.zeros(1, 2, 4, 4), max_magnitude=0)


def test_flow_arrows_point_along_the_flow():
    background = torch.zeros(1, 3, 64, 64)
    out = draw_flow_arrows(background, uniform_flow(2.0, 0.0, 64, 64), step=32)
    assert out.shape == background.shape
    ys, xs = torch.nonzero(out[0].sum(0)[:32, :32] > 0.5, as_tuple=True)  # the arrow of the cell centred at (16, 16)
    assert xs.min() >= 13 and ys.min() >= 10 and ys.max() <= 22  # starts at the centre, stays on its row
    ys, xs = torch.nonzero(out[0].sum(0)[:32] > 0.5, as_tuple=True)
    assert xs.max() >= 16 + 0.9 * 32 - 1  # the fastest arrow spans 90 % of a cell


def test_arrow_length_is_proportional_to_speed():
    flow = torch.zeros(1, 2, 64, 32)
    flow[:, 0, :32] = 1.0
    flow[:, 0, 32:] = 2.0
    out = draw_flow_arrows(torch.zeros(1, 3, 64, 32), flow, step=32, max_magnitude=4.0)
    bright = out[0].sum(0) > 0.5
    slow_end = torch.nonzero(bright[:32], as_tuple=True)[1].max()
    fast_end = torch.nonzero(bright[32:], as_tuple=True)[1].max()
    assert float(fast_end - slow_end) == pytest.approx(0.9 * 32 / 4, abs=1.5)  # 7.2 px longer


def test_arrows_broadcast_one_background_over_a_flow_batch():
    flow = torch.cat([uniform_flow(1.0, 0.0, 32, 32), uniform_flow(0.0, 1.0, 32, 32)])
    out = draw_flow_arrows(torch.zeros(1, 3, 32, 32), flow, step=16)
    assert out.shape == (2, 3, 32, 32)
    assert not torch.equal(out[0], out[1])


def test_zero_flow_draws_nothing():
    background = torch.rand(2, 3, 40, 50, generator=torch.Generator().manual_seed(1))
    out = draw_flow_arrows(background, torch.zeros(1, 2, 40, 50))
    assert (out - background).abs().max() <= 0.5 / 255 + 1e-6  # only the uint8 round trip


def test_draw_flow_arrows_validates():
    with pytest.raises(ValueError, match="must match"):
        draw_flow_arrows(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 9, 8))
    with pytest.raises(ValueError, match="batches"):
        draw_flow_arrows(torch.zeros(2, 3, 8, 8), torch.zeros(3, 2, 8, 8))
    with pytest.raises(ValueError, match="step"):
        draw_flow_arrows(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 8, 8), step=1)
    with pytest.raises(ValueError, match="colours"):
        draw_flow_arrows(torch.zeros(1, 3, 8, 8), uniform_flow(1, 0), step=4, color=(2.0, 0.0, 0.0))


def test_motion_hints_are_drawn_where_they_are():
    image = torch.zeros(1, 3, 100, 200)
    hints = MotionHints(arrows=((0.1, 0.2, 0.4, 0.2),), anchors=((0.8, 0.8),))
    out = draw_motion_hints(image, hints)
    changed = out[0].sum(0) > 0.1
    assert changed[20, 20:80].float().mean() > 0.8  # along the arrow
    assert changed[80, 160]  # the anchor dot
    assert not changed[60:, :100].any()  # nowhere near them
    column = out[0, :, 15:26, 50]
    yellow = column[:, column[0].argmax()]
    assert yellow[0] > 0.8 and yellow[1] > 0.6 and yellow[2] < 0.3


def test_empty_hints_leave_the_image_unchanged():
    image = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(2))
    out = draw_motion_hints(image, MotionHints())
    assert (out - image).abs().max() <= 0.5 / 255 + 1e-6


def test_draw_motion_hints_validates():
    with pytest.raises(TypeError, match="MotionHints"):
        draw_motion_hints(torch.zeros(1, 3, 8, 8), "[[0, 0, 1, 1]]")


def test_layer_overlay_tints_and_outlines_each_layer_in_its_colour():
    from models.flow.viz import LAYER_COLOURS, LAYER_TINT, composite, layer_overlay

    owner = torch.full((1, 1, 40, 40), -1, dtype=torch.int64)
    owner[..., 5:20, 5:35] = 0
    owner[..., 24:36, 5:35] = 1
    overlay = layer_overlay(owner, tinted={1}, outlined={0})
    assert overlay.shape == (1, 4, 40, 40)
    inner = overlay[0, :, 28:32, 10:30].reshape(4, -1)
    assert torch.allclose(inner[:3], torch.tensor(LAYER_COLOURS[1])[:, None]) and inner[3].eq(LAYER_TINT).all()
    assert overlay[0, 3, 10:15, 10:30].eq(0).all(), "layer 0 is outlined, not filled"
    assert overlay[0, 3, 5, 10:30].eq(1).all() and overlay[0, :3, 5, 20].tolist() == pytest.approx(LAYER_COLOURS[0])
    assert overlay[0, 3, 0:3].eq(0).all() and overlay[0, 3, 21:23].eq(0).all(), "no layer, no outline: clear"
    background = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    shown = composite(background, overlay)
    torch.testing.assert_close(shown[..., 30, 20], background[..., 30, 20] * (1 - LAYER_TINT)
                               + torch.tensor(LAYER_COLOURS[1]) * LAYER_TINT)
    assert torch.equal(shown[..., 0:3, :], background[..., 0:3, :])
