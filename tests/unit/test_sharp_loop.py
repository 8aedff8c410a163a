"""Sharp loop engine: exact still pixels and loop ends, analytic translation, no holes, kept detail, API."""

import sys

import pytest
import torch
from conftest import REPO_ROOT

from models.checks import InputValueError
from models.flow.engine import flow_from_text
from models.loop import sharp_resample
from models.loop.sharp_loop import make_plan, render_sharp_loop
from models.loop.sharp_resample import mirror, upsample_midpoints

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import loop_quality  # noqa: E402  (the benchmark's metrics: one definition for tests and figures)


def texture(height: int, width: int, seed: int = 0, cell: int = 5) -> torch.Tensor:
    """Fine random texture [1, 3, H, W] in [0, 1] (features of about ``cell`` px)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // cell + 2, width // cell + 2, generator=gen)
    return torch.nn.functional.interpolate(coarse, scale_factor=cell, mode="bicubic")[..., :height, :width].clamp(0, 1)


def lake_scene(size: int = 128):
    """A textured picture, an elliptic region and the flow Text Flow's engine makes for it (right, with fades)."""
    image = texture(size, size)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    mask = ((x / 0.85) ** 2 + (y / 0.6) ** 2 < 1).float()[None, None]
    flow = flow_from_text(image, mask, "water flowing to the right", strength=1.0, variation=0.5).flow
    return image, mask, flow


def test_still_pixels_are_bit_exact_and_frame_zero_is_the_input():
    image, _, flow = lake_scene(96)
    frames = render_sharp_loop(image, flow, 20)[0]
    still = image[0].permute(1, 2, 0)
    assert torch.equal(frames[0], still)
    static = (flow[0] == 0).all(dim=0)
    assert static.any() and (~static).any()
    for frame in frames:
        assert torch.equal(frame[static], still[static])


def test_the_loop_closes_without_a_seam():
    image, mask, flow = lake_scene(96)
    frames = render_sharp_loop(image, flow, 24)[0].numpy()
    _, seam = loop_quality.pop_and_seam(frames, mask[0, 0].numpy() > 0.5)
    assert seam <= 1.2


def test_uniform_translation_of_a_periodic_texture_is_exact_outside_transitions():
    """Integer velocity: every pixel whose trace stays in the region shows the texture shifted by t (forward
    phase) or by t − N (backward phase), exactly; both are the same picture when N·v is a period. Inside a
    transition the two equal phases are mixed variance-preservingly, which may raise their detail by up to √2:
    that is bounded, not exact."""
    height, width, n_frames, period = 40, 120, 16, 8
    one_period = 0.5 + 0.4 * torch.sin(2 * torch.pi * torch.arange(period, dtype=torch.float32) / period)
    image = one_period.repeat(width // period).view(1, 1, 1, width).expand(1, 3, height, width).clone()
    image[:, 1] = image[:, 1].flip(-1)
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0, :, 30:90] = 1.0  # 1 px/frame to the right; N·v = 16 = two periods
    plan = make_plan(flow, n_frames, cycles=1)
    frames = render_sharp_loop(image, flow, n_frames, plan=plan)[0]
    core = torch.zeros(height, width, dtype=torch.bool)
    core[:, 30 + n_frames:90 - n_frames] = True  # traces of these never leave the moving band
    core_index = core.flatten().nonzero().squeeze(1)
    position = torch.searchsorted(plan.sources, core_index)
    start, end = plan.start[0, 0, position], plan.end[0, 0, position]
    for t in range(n_frames):
        expected = torch.roll(image[0], shifts=t, dims=-1).permute(1, 2, 0).reshape(-1, 3)[core_index]
        got = frames[t].reshape(-1, 3)[core_index]
        pure = (t <= start) | (t >= end)
        assert pure.any()
        assert torch.equal(got[pure], expected[pure])
        detail = (expected[~pure] - 0.5).abs()
        assert ((got[~pure] - 0.5).abs() <= detail * 2 ** 0.5 + 1e-6).all()


def test_no_holes_inside_a_diverging_region():
    """Content spreading out of a point leaves holes for splatting; gathering reads the still for every pixel."""
    size = 80
    image = texture(size, size, seed=3)
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    dx, dy = x - size / 2, y - size / 2
    radius = torch.sqrt(dx * dx + dy * dy)
    inside = radius < size * 0.4
    flow = torch.stack((dx, dy)).unsqueeze(0) / radius.clamp_min(1) * 1.5 * inside
    frames = render_sharp_loop(image, flow, 12)[0]
    assert torch.isfinite(frames).all()
    still_high = loop_quality._high_pass(loop_quality._gray(image[0].permute(1, 2, 0).numpy()))
    core = loop_quality.core_of(inside.numpy())
    for frame in frames.numpy():
        high = loop_quality._high_pass(loop_quality._gray(frame))
        assert high[core].std() >= 0.8 * still_high[core].std()  # a filled hole is flat


def test_detail_and_coherence_are_kept_on_a_textured_scene():
    image, mask, flow = lake_scene(128)
    frames = render_sharp_loop(image, flow, 30)[0].numpy()
    core = loop_quality.core_of(mask[0, 0].numpy() > 0.5)
    assert loop_quality.contrast(frames, core) >= 0.90
    assert loop_quality.coherence(frames, core) >= 0.85


def test_a_batch_renders_each_picture_like_alone():
    _, _, flow = lake_scene(64)
    images = torch.cat((texture(64, 64, seed=1), texture(64, 64, seed=2)))
    both = render_sharp_loop(images, flow, 10)
    for b in range(2):
        assert torch.equal(both[b], render_sharp_loop(images[b:b + 1], flow, 10)[0])


def test_a_flow_that_moves_nothing_gives_the_still():
    image = texture(32, 32)
    frames = render_sharp_loop(image, torch.zeros(1, 2, 32, 32), 5)[0]
    assert all(torch.equal(frame, image[0].permute(1, 2, 0)) for frame in frames)


def test_travel_beyond_the_region_is_reported_with_the_fix():
    image = texture(40, 40)
    flow = torch.zeros(1, 2, 40, 40)
    flow[:, 0, 10:30, 10:30] = 3.0  # 3 px/frame in a 20 px box: 180 px over 60 frames
    plan = make_plan(flow, 60)
    assert any("fewer frames or a lower speed" in warning for warning in plan.warnings)
    assert plan.bounds == (0, 30, 60)  # its traces tear the texture half-way through one cycle: two cycles
    assert torch.isfinite(render_sharp_loop(image, flow, 60, plan=plan)).all()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"cycles": 0}, "cycles"), ({"cycles": 99}, "cycles"), ({"transition": 0}, "transition"),
     ({"seed": -1}, "seed"), ({"cycles": True}, "cycles")],
)
def test_bad_options_name_the_option(kwargs, words):
    _, _, flow = lake_scene(32)
    with pytest.raises(InputValueError, match=words):
        make_plan(flow, 10, **kwargs)


def test_a_plan_for_another_frame_count_is_refused():
    image, _, flow = lake_scene(32)
    with pytest.raises(InputValueError, match="make_plan"):
        render_sharp_loop(image, flow, 12, plan=make_plan(flow, 10))


def test_a_plan_for_another_flow_of_the_same_size_is_refused():
    image, _, flow = lake_scene(32)
    with pytest.raises(InputValueError, match="another flow"):
        render_sharp_loop(image, flow.flip(-1), 10, plan=make_plan(flow, 10))


def test_the_2x_grid_keeps_the_pixels_and_mirrors_beyond_the_edges():
    image = texture(9, 11)[0]
    fine = upsample_midpoints(image)
    assert fine.shape == (17, 21, 3)
    assert torch.equal(fine[::2, ::2], image.permute(1, 2, 0))
    # A midpoint away from the ends: the Lanczos-3 taps over the 6 pixels around it (2 before, 3 after… of x[j]).
    taps = torch.tensor(sharp_resample._MIDPOINT_TAPS)
    torch.testing.assert_close(fine[8, 9], (image[:, 4, 2:8] * taps).sum(dim=1))
    x = torch.tensor([-3.0, 0.0, 4.5, 10.0, 13.0])
    assert mirror(x, 11).tolist() == [3.0, 0.0, 4.5, 10.0, 7.0]


def test_the_2x_grid_built_in_blocks_is_the_grid_built_whole(monkeypatch):
    image = texture(23, 17)[0]
    whole = upsample_midpoints(image)
    monkeypatch.setattr(sharp_resample, "_BLOCK_ELEMENTS", 50)  # a row or two of the grid per block
    assert torch.equal(upsample_midpoints(image), whole)


def test_a_read_inside_the_picture_does_not_depend_on_reads_beyond_it():
    """Positions beyond the edge are mirrored; those inside are read as they are, whatever they are read with (the
    renderer reads a layer in chunks)."""
    x = torch.tensor([0.3, 5.25, 510.9])
    assert torch.equal(mirror(torch.cat((x, torch.tensor([-2.5, 513.0]))), 512)[:3], x)
