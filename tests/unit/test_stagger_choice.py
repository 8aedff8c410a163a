"""The stagger pattern a plan keeps: the predicted detail a frame shows, the choice, and what the loop shows."""

import pytest
import torch

from models.flow.smooth import gaussian_blur
from models.loop.sharp_loop import make_plan, render_sharp_loop
from models.loop.stagger_choice import (
    KEEP_DETAIL,
    carried_detail,
    choose_candidates,
    point_detail,
    shown_detail,
    still_detail,
)

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels

LENGTH, WIDTH, HEIGHT, STRIDE = 20, 64, 8, 4


def _least_shown(slope: float) -> float:
    """A strip moving 1 px/frame to the right whose detail sits in one column (x = 32), and one candidate's windows
    (2 frames wide) whose middle is LENGTH/2 + slope · (x − 32) / px: later downstream for slope > 0."""
    flow = torch.zeros(1, 2, HEIGHT, WIDTH)
    flow[:, 0] = 1.0
    xs = torch.arange(0, WIDTH, STRIDE, dtype=torch.float32)
    middle = (LENGTH / 2 + slope * (xs - WIDTH / 2)).expand(HEIGHT // STRIDE, -1).flatten()
    windows = torch.stack((middle - 1, middle + 1)).unsqueeze(0)
    energy = torch.full((1, HEIGHT // STRIDE, WIDTH // STRIDE), 1e-3)
    energy[..., WIDTH // 2 // STRIDE] = 1.0
    ys, xs = torch.meshgrid(torch.arange(0, HEIGHT, STRIDE), torch.arange(0, WIDTH, STRIDE), indexing="ij")
    counted = torch.ones(1, xs.numel(), dtype=torch.bool)
    carried = carried_detail(flow, (ys * WIDTH + xs).flatten(), energy, counted, LENGTH, (0, 0), STRIDE)
    low = shown_detail(carried, [windows], [LENGTH])
    return float(low[0, 0, 0])


def test_switching_everywhere_at_once_keeps_all_the_detail_in_every_frame():
    # Each phase carries the column with the share of energy the blend gives it: together all of it.
    assert _least_shown(0.0) == pytest.approx(1.0, abs=0.02)


def test_switching_earlier_downstream_hides_the_detail_later_downstream_does_not():
    # At frame t the column is forward-shown at 32 + t and backward-shown at 32 − (L − t): with the pixel
    # downstream already switched and the one upstream not yet, it shows in neither phase.
    assert _least_shown(-0.5) < 0.5
    assert _least_shown(0.5) >= 0.98  # shown twice for a while instead: nothing lost


def test_the_asked_pattern_is_kept_unless_it_loses_detail_then_the_one_keeping_most_wins():
    low = torch.tensor([[[KEEP_DETAIL], [1.0], [0.99]]])  # [cycle, candidate, picture]
    assert choose_candidates(low).tolist() == [[0]]
    low[0, 0, 0] = 0.8
    assert choose_candidates(low).tolist() == [[1]]


def test_detail_counts_inside_the_region_away_from_its_border_and_reads_the_mean_elsewhere():
    image = torch.zeros(1, 3, 32, 64)
    image[..., ::2] = 1.0  # stripes: detail everywhere
    moving = torch.zeros(1, 32, 64, dtype=torch.bool)
    moving[:, :, 16:48] = True
    energy, counted = point_detail(still_detail(image), moving, slice(0, 32), slice(0, 64), 8)  # x = 0, 8, …, 56
    columns = counted.view(4, 8).all(dim=0)
    # the core is x 24–39 (8 px inside the region); only the cell of x = 32 (28–35) lies in it more than half
    assert columns.tolist() == [False, False, False, False, True, False, False, False]
    assert torch.allclose(energy, energy[0, 0, 3].expand_as(energy))  # stripes everywhere: one energy


def _glitter(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A strip of water whose detail sits in one bright, sparkling column (docs/layers.md#seeds: the lake of sky and
    water), moving left at 1 px/frame (whole pixels: no resampling softens it)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = 48, 160
    noise = torch.rand(1, 1, height, width, generator=generator)
    sparkle = gaussian_blur(noise, 0.7) - gaussian_blur(noise, 3.0)
    column = torch.exp(-0.5 * ((torch.arange(width) - 100.0) / 10.0) ** 2)
    image = (0.4 + 0.2 * sparkle + 2.0 * sparkle * column).clamp(0, 1).expand(1, 3, height, width).contiguous()
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0] = -1.0
    return image, flow


def _kept_contrast(frames: torch.Tensor, still: torch.Tensor) -> float:
    """The least high-pass energy (√) of any frame ÷ the still's, inside a margin."""
    def energy(picture: torch.Tensor) -> torch.Tensor:
        gray = picture.mean(dim=-1)[None, None]
        return (gray - gaussian_blur(gray, 2.0))[..., 8:-8, 8:-8].square().mean()

    base = energy(still.permute(1, 2, 0))
    return min(float((energy(frame) / base).sqrt()) for frame in frames)


def test_a_pattern_that_hides_the_glitter_is_replaced_and_the_loop_keeps_it():
    """Over a few stagger seeds some pattern, as drawn, loses much of the glittering column mid-loop; the plan
    given the still keeps every one of them at ≥ 0.95 of the still's detail in every frame, measured on the frames."""
    image, flow = _glitter(0)
    as_drawn, chosen = [], []
    for seed in range(4):
        blind = render_sharp_loop(image, flow, 30, plan=make_plan(flow, 30, seed=seed))[0]
        seeing = render_sharp_loop(image, flow, 30, seed=seed)[0]
        as_drawn.append(_kept_contrast(blind, image[0]))
        chosen.append(_kept_contrast(seeing, image[0]))
    assert min(as_drawn) < 0.5, as_drawn  # the case exists without the choice
    assert min(chosen) >= 0.95, chosen


def test_a_pattern_predicted_to_keep_the_detail_is_left_as_it_is():
    image, flow = _glitter(0)
    for seed in (1, 3):  # predicted to keep 1.00 and 0.99 of the detail
        assert torch.equal(make_plan(flow, 30, seed=seed, image=image).start, make_plan(flow, 30, seed=seed).start)


def test_one_flow_for_two_pictures_chooses_for_each_as_if_alone():
    image, flow = _glitter(0)
    images = torch.cat((image, image.flip(-1)))  # the column at x 100 and at x 59: different choices
    plan = make_plan(flow, 30, seed=2, image=images)
    assert plan.start.shape[1] == 2 and not torch.equal(plan.start[:, 0], plan.start[:, 1])
    both = render_sharp_loop(images, flow, 30, seed=2)
    for b in range(2):
        assert torch.equal(both[b], render_sharp_loop(images[b:b + 1], flow, 30, seed=2)[0])
