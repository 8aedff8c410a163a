"""The feather where a moving layer meets still pixels: FEATHER_PX deep, against texture and edges alike."""

import torch

from models.flow.layers import FlowLayer, FlowStack
from models.flow.ops import smoothstep
from models.loop import border_feather
from models.loop.border_feather import FEATHER_PX, stack_feathers
from models.loop.sharp_loop import make_plan, render_sharp_loop
from models.loop.sharp_stack import StackPlan

HEIGHT, WIDTH, PERIOD, N_FRAMES = 32, 64, 8, 12
BAND, BAR = slice(8, 20), slice(40, 46)
"""Stripes above the band continue its texture (no image edge); below it and in the still bar: flat black."""


def picture_and_stack() -> tuple[torch.Tensor, FlowStack]:
    stripes = 0.6 + 0.3 * torch.sin(2 * torch.pi * torch.arange(WIDTH, dtype=torch.float32) / PERIOD)
    image = torch.zeros(1, 3, HEIGHT, WIDTH)
    image[:, :, :BAND.stop] = stripes
    image[:, :, BAND, BAR] = 0.0
    mask = torch.zeros(1, 1, HEIGHT, WIDTH)
    mask[..., BAND, :] = 1.0
    mask[..., BAND, BAR] = 0.0
    flow = torch.zeros(1, 2, HEIGHT, WIDTH)
    flow[:, 0] = mask[:, 0]  # 1 px/frame to the right, behind the bar
    return image, FlowStack((FlowLayer(flow=flow, mask=mask, border="behind", label="stripes"),))


def feather_weights(image: torch.Tensor, plan: StackPlan) -> torch.Tensor:
    """[H, W] the rendered layer's weight per pixel (1 where not feathered)."""
    feather = stack_feathers(image, plan)[0][0]
    weights = torch.ones(HEIGHT * WIDTH)
    weights[plan.layers[0].plan.sources[feather.index]] = feather.weight[:, 0]
    return weights.view(HEIGHT, WIDTH)


def test_the_feather_is_feather_px_deep_along_every_border_with_still_pixels():
    image, stack = picture_and_stack()
    weights = feather_weights(image, make_plan(stack, N_FRAMES))
    depth = int(FEATHER_PX + 0.5)
    feathered = weights < 1
    assert not feathered[:BAND.start].any() and not feathered[BAND.stop:].any()  # still pixels: never touched
    assert not feathered[BAND.start + depth:BAND.stop - depth, :BAR.start - depth].any()  # the band's middle
    # Against the stripes above (texture continues), the flat black below and the bar (image edges) alike:
    # smoothstep over FEATHER_PX of the distance to the nearest still pixel.
    away_from_bar = torch.cat((torch.arange(0, BAR.start - depth), torch.arange(BAR.stop + depth, WIDTH)))
    for d in range(1, depth + 1):
        expected = smoothstep(torch.tensor((d - 0.5) / FEATHER_PX)).expand(len(away_from_bar))
        torch.testing.assert_close(weights[BAND.start + d - 1, away_from_bar], expected)
        torch.testing.assert_close(weights[BAND.stop - d, away_from_bar], expected)
        middle = slice(BAND.start + depth, BAND.stop - depth)
        torch.testing.assert_close(weights[middle, BAR.start - d], expected[:1].expand(middle.stop - middle.start))


def test_feathered_pixels_blend_towards_the_still_and_still_pixels_stay_exact(monkeypatch):
    image, stack = picture_and_stack()
    plan = make_plan(stack, N_FRAMES)
    weights = feather_weights(image, plan).unsqueeze(-1)
    feathered = render_sharp_loop(image, stack, N_FRAMES, plan=plan)[0]
    monkeypatch.setattr(border_feather, "FEATHER_PX", 0.0)  # no pixel is within 0.5 px: no feather
    plain = render_sharp_loop(image, stack, N_FRAMES, plan=plan)[0]
    still = image[0].permute(1, 2, 0)
    layer = stack.layers[0].region()[0, 0]
    assert torch.equal(feathered[0], still)
    assert not torch.equal(feathered, plain)
    for frame, unfeathered in zip(feathered, plain, strict=True):
        assert torch.equal(frame[~layer], still[~layer])
        torch.testing.assert_close(frame, torch.lerp(still, unfeathered, weights), atol=1e-6, rtol=0)
