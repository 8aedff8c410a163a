"""The feather where a moving layer meets still texture: only across borders that cut continuous texture."""

import torch

from models.flow.layers import FlowLayer, FlowStack
from models.flow.ops import smoothstep
from models.loop import border_feather
from models.loop.border_feather import FEATHER_PX, stack_feathers
from models.loop.sharp_loop import make_plan, render_sharp_loop

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


def feather_weights(image: torch.Tensor, stack: FlowStack) -> torch.Tensor:
    """[H, W] the rendered layer's weight per pixel (1 where not feathered)."""
    plan = make_plan(stack, N_FRAMES)
    feather = stack_feathers(image, plan)[0][0]
    weights = torch.ones(HEIGHT * WIDTH)
    weights[plan.layers[0].plan.sources[feather.index]] = feather.weight[:, 0]
    return weights.view(HEIGHT, WIDTH)


def test_the_feather_crosses_continuous_texture_only_and_is_feather_px_deep():
    image, stack = picture_and_stack()
    weights = feather_weights(image, stack)
    depth = int(FEATHER_PX + 0.5)
    feathered = weights < 1
    assert not feathered[:BAND.start].any() and not feathered[BAND.start + depth:].any()
    # Against the flat black below the band and the black bar (strong image edges): crisp.
    assert not feathered[BAND.stop - depth:BAND.stop].any()
    assert not feathered[BAND.start + depth:BAND.stop, BAR.start - depth:BAR.start].any()
    # Against the stripes above (the same texture continues): smoothstep over FEATHER_PX from the still.
    away_from_bar = torch.cat((torch.arange(0, BAR.start - depth), torch.arange(BAR.stop + depth, WIDTH)))
    for row in range(BAND.start, BAND.start + depth):
        expected = smoothstep(torch.tensor((row - BAND.start + 0.5) / FEATHER_PX))
        torch.testing.assert_close(weights[row, away_from_bar], expected.expand(len(away_from_bar)))


def test_feathered_pixels_blend_towards_the_still_and_still_pixels_stay_exact(monkeypatch):
    image, stack = picture_and_stack()
    weights = feather_weights(image, stack).unsqueeze(-1)
    feathered = render_sharp_loop(image, stack, N_FRAMES)[0]
    monkeypatch.setattr(border_feather, "FEATHER_PX", 0.0)  # no pixel is within 0.5 px: no feather
    plain = render_sharp_loop(image, stack, N_FRAMES)[0]
    still = image[0].permute(1, 2, 0)
    layer = stack.layers[0].region()[0, 0]
    assert torch.equal(feathered[0], still)
    assert not torch.equal(feathered, plain)
    for frame, unfeathered in zip(feathered, plain, strict=True):
        assert torch.equal(frame[~layer], still[~layer])
        torch.testing.assert_close(frame, torch.lerp(still, unfeathered, weights), atol=1e-6, rtol=0)
