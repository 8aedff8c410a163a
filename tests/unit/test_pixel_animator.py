"""Learning-free pixel engine: exact static pixels, exact loop ends, analytic translation, holes, API."""

import math

import pytest
import torch

import models.loop.pixel_animator as pixel_animator
from models.loop.euler import euler_integrate
from models.loop.pixel_animator import active_window, fill_holes, render_frame, render_loop, speed_importance
from models.loop.splatting import softsplat

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels


def smooth_scene(batch: int = 1, height: int = 36, width: int = 52, seed: int = 0):
    """Smooth random image; smooth flow (|v| up to ~1.8 px/frame) inside a blob, exactly zero outside."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.interpolate(
        torch.rand(batch, 3, 5, 6, generator=gen), size=(height, width), mode="bilinear", align_corners=False
    )
    y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    blob = ((x / 0.6) ** 2 + (y / 0.5) ** 2 < 1).float()
    flow = torch.stack((1.2 + 0.5 * torch.sin(3 * y), 0.6 * torch.cos(2 * x))).unsqueeze(0) * blob
    return image, flow


def channels_first(frames: torch.Tensor) -> torch.Tensor:
    """[B, N, H, W, 3] → [B, N, 3, H, W]."""
    return frames.permute(0, 1, 4, 2, 3)


@pytest.mark.parametrize("integration", ["round", "bilinear"])
def test_static_pixels_no_moving_content_reaches_are_bit_exact(integration):
    image, flow = smooth_scene()
    n = 10
    frames = channels_first(render_loop(image, flow, n, integration=integration))[0]
    moving = (flow != 0).any(dim=1, keepdim=True)
    for i in range(1, n):
        # Independent check of "reached": splat a moving-pixel indicator along both displacements.
        indicator = moving.float()
        reached = (
            softsplat(indicator, euler_integrate(flow, i, integration))
            + softsplat(indicator, euler_integrate(-flow, n - i, integration))
        ) > 0
        untouched = (~moving & ~reached)[0].expand(3, -1, -1)
        assert untouched.sum() > 0.3 * untouched.numel()
        assert torch.equal(frames[i][untouched], image[0][untouched])
        assert not torch.equal(frames[i], image[0])  # the moving region really moves


def test_frame_zero_is_the_input_bit_exactly():
    image, flow = smooth_scene(seed=1)
    frames = render_loop(image, flow, 7)
    assert torch.equal(frames[:, 0], image.permute(0, 2, 3, 1))


def test_loop_closes_frame_n_equals_frame_zero_via_the_same_code_path():
    image, flow = smooth_scene(seed=2)
    n = 9
    assert torch.equal(render_frame(image, flow, n, n), render_frame(image, flow, 0, n))
    assert torch.equal(render_frame(image, flow, n, n), image)


def test_streamed_loop_equals_random_access_frames():
    image, flow = smooth_scene(seed=3)
    n = 11
    frames = channels_first(render_loop(image, flow, n))
    for i in range(n):
        assert torch.equal(frames[:, i], render_frame(image, flow, i, n))


def test_seam_is_no_larger_than_ordinary_frame_steps():
    image, flow = smooth_scene(seed=4)
    n = 16
    frames = channels_first(render_loop(image, flow, n))[0]
    steps = [float((frames[i + 1] - frames[i]).abs().mean()) for i in range(n - 1)]
    seam = float((frames[0] - frames[n - 1]).abs().mean())
    assert seam > 0
    assert seam <= 1.5 * max(steps)


def periodic_texture(height: int, width: int, shift_x: float, shift_y: float) -> torch.Tensor:
    """RGB texture with period 8 in x and 4 in y, translated by (shift_x, shift_y)."""
    y, x = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing="ij")
    phase = [(x - shift_x) / 8 + c * (y - shift_y) / 4 for c in (1, 2, 3)]
    return torch.stack([0.5 + 0.4 * torch.sin(2 * math.pi * p) for p in phase]).unsqueeze(0)


def test_constant_integer_flow_translates_a_periodic_texture_exactly():
    height, width, n = 12, 24, 8  # the periods divide N · v, and N ≤ W: both directions cover every pixel
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0] = 1.0
    frames = channels_first(render_loop(periodic_texture(height, width, 0, 0), flow, n))[0]
    for i in range(n):
        torch.testing.assert_close(frames[i], periodic_texture(height, width, i, 0)[0], atol=1e-5, rtol=0)


def test_constant_diagonal_flow_translates_where_either_direction_covers():
    height, width, n = 12, 24, 8
    flow = torch.empty(1, 2, height, width)
    flow[:, 0], flow[:, 1] = 1.0, -1.0
    frames = channels_first(render_loop(periodic_texture(height, width, 0, 0), flow, n))[0]
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    for i in range(n):
        forward = (x >= i) & (y <= height - 1 - i)
        backward = (x <= width - 1 - (n - i)) & (y >= n - i)
        covered = (forward | backward).expand(3, -1, -1)
        expected = periodic_texture(height, width, i, -i)[0]
        torch.testing.assert_close(frames[i][covered], expected[covered], atol=1e-5, rtol=0)
        assert frames[i].min() >= 0.1 - 1e-6 and frames[i].max() <= 0.9 + 1e-6  # corner holes: filled in range


def test_constant_subpixel_flow_translates_a_sinusoid():
    height, width, n, period = 6, 40, 32, 16
    x = torch.arange(width).float().expand(height, width)
    image = (0.5 + 0.4 * torch.sin(2 * math.pi * x / period)).expand(1, 3, height, width).contiguous()
    flow = torch.zeros(1, 2, height, width)
    flow[:, 0] = 0.5  # N · 0.5 = 16 = period
    frames = channels_first(render_loop(image, flow, n))[0]
    for i in range(n):
        expected = 0.5 + 0.4 * torch.sin(2 * math.pi * (x - 0.5 * i) / period)
        # Half-pixel positions blur the sinusoid by cos(π / 16): at most 0.4 · (1 − 0.981) ≈ 0.008. Columns at
        # the frame border and at each direction's coverage front (x ≈ i/2 forward, W − 1 − (N − i)/2 backward)
        # see only one of their two half-weight sources: up to 0.4 · sin(π / 16) ≈ 0.078 off there.
        fronts = torch.tensor([-1.0, width, 0.5 * i, width - 1 - 0.5 * (n - i)])
        away = ((x[0].unsqueeze(1) - fronts).abs() >= 1.5).all(dim=1)
        assert away.sum() >= 24
        torch.testing.assert_close(frames[i][:, :, away], expected[:, away].expand(3, -1, -1), atol=0.01, rtol=0)
        torch.testing.assert_close(frames[i], expected.expand(3, -1, -1), atol=0.08, rtol=0)


def test_zero_flow_gives_a_static_loop():
    image = torch.rand(2, 3, 9, 13, generator=torch.Generator().manual_seed(5))
    frames = render_loop(image, torch.zeros(1, 2, 9, 13), 5)
    assert torch.equal(frames, image.permute(0, 2, 3, 1).unsqueeze(1).expand(-1, 5, -1, -1, -1))


@pytest.mark.parametrize(("height", "width"), [(17, 23), (31, 8), (1, 12)])
def test_odd_and_non_square_sizes(height, width):
    gen = torch.Generator().manual_seed(height)
    image = torch.rand(1, 3, height, width, generator=gen)
    flow = torch.randn(1, 2, height, width, generator=gen)
    frames = render_loop(image, flow, 6)
    assert frames.shape == (1, 6, height, width, 3)
    assert torch.isfinite(frames).all()
    assert torch.equal(frames[:, 0], image.permute(0, 2, 3, 1))
    assert frames.min() >= image.min() - 1e-6 and frames.max() <= image.max() + 1e-6  # convex blends only


def test_batch_of_images_with_one_flow_broadcasts():
    image, flow = smooth_scene(batch=3, seed=6)
    frames = render_loop(image, flow, 6)
    for b in range(3):
        assert torch.equal(frames[b], render_loop(image[b : b + 1], flow, 6)[0])


def test_per_item_flows_keep_a_static_item_exact():
    image, flow = smooth_scene(batch=2, seed=7)
    flows = torch.cat((flow, torch.zeros_like(flow)))
    frames = render_loop(image, flows, 6)
    assert torch.equal(frames[1], image[1].permute(1, 2, 0).expand(6, -1, -1, -1))
    assert torch.equal(frames[0], render_loop(image[:1], flow, 6)[0])


def test_holes_left_by_both_directions_are_filled(monkeypatch):
    calls = []
    monkeypatch.setattr(
        pixel_animator, "fill_holes", lambda frame, holes: calls.append(int(holes.sum())) or fill_holes(frame, holes)
    )
    image = torch.full((1, 3, 16, 20), 0.3)
    flow = torch.zeros(1, 2, 16, 20)
    flow[:, 0, 4:11] = 3.0  # 12 frames × 3 px > 20 px: mid-loop, neither direction covers the middle
    frames = render_loop(image, flow, 12)
    assert sum(calls) > 0
    torch.testing.assert_close(frames, torch.full_like(frames, 0.3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("block", [1, 3, 7, 15])
def test_fill_holes_keeps_valid_pixels_and_interpolates_inside_holes(block):
    x = torch.linspace(0, 1, 24).expand(1, 3, 20, 24).contiguous()
    holes = torch.zeros(1, 1, 20, 24, dtype=torch.bool)
    holes[:, :, 3 : 3 + block, 5 : 5 + block] = True
    holes[:, :, 0, 0] = True
    filled = fill_holes(x.masked_fill(holes, 0.0), holes)
    assert torch.equal(filled[~holes.expand_as(x)], x[~holes.expand_as(x)])
    hole_block = filled[:, :, 3 : 3 + block, 5 : 5 + block]
    assert hole_block.min() >= x[0, 0, 0, 4] and hole_block.max() <= x[0, 0, 0, 5 + block]  # between its borders
    assert (hole_block[:, :, :, 1:] >= hole_block[:, :, :, :-1] - 1e-6).all()  # and still increasing in x
    assert 0 <= filled[0, 0, 0, 0] <= x[0, 0, 0, 1]


def test_fill_holes_of_a_constant_frame_is_constant_and_all_holes_keep_values():
    holes = torch.rand(2, 1, 9, 11, generator=torch.Generator().manual_seed(3)) < 0.5
    holes[1] = True  # nothing valid in item 1: its values stay as they are
    frame = torch.full((2, 3, 9, 11), 0.7).masked_fill(holes, 0.25)
    filled = fill_holes(frame, holes)
    torch.testing.assert_close(filled[0], torch.full_like(filled[0], 0.7))
    assert torch.equal(filled[1], frame[1])


def test_faster_content_gets_more_importance():
    flow = torch.zeros(1, 2, 2, 3)
    flow[0, 0, 0, 0], flow[0, 1, 0, 1] = 2.0, -1.0
    z = speed_importance(flow, sharpness=3.0)
    assert z.shape == (1, 1, 2, 3)
    assert z[0, 0, 0].tolist() == [3.0, 1.5, 0.0]
    assert torch.count_nonzero(speed_importance(torch.zeros(1, 2, 2, 2))) == 0
    with pytest.raises(ValueError, match="sharpness"):
        speed_importance(flow, sharpness=-1)


def test_active_window_contains_every_changed_pixel():
    height, width = 30, 40
    gen = torch.Generator().manual_seed(8)
    image = torch.rand(1, 3, height, width, generator=gen)
    flow = torch.zeros(1, 2, height, width)
    flow[:, :, 3:9, 25:31] = torch.randn(1, 2, 6, 6, generator=gen) * 3.7
    rows, cols = active_window(flow)
    assert (rows.stop - rows.start) * (cols.stop - cols.start) < height * width / 2
    inside = torch.zeros(height, width, dtype=torch.bool)
    inside[rows, cols] = True
    for integration in ("round", "bilinear"):
        frames = render_loop(image, flow, 12, integration=integration)
        changed = (frames != image.permute(0, 2, 3, 1).unsqueeze(1)).any(dim=-1).any(dim=1)[0]
        assert changed.any()
        assert not (changed & ~inside).any()


def test_frames_are_streamed_into_out_with_progress_callbacks():
    image, flow = smooth_scene(seed=9)
    out = torch.zeros(1, 5, *image.shape[-2:], 3)
    seen = []
    result = render_loop(image, flow, 5, out=out, on_frame=seen.append)
    assert result is out
    assert seen == [0, 1, 2, 3, 4]
    assert torch.equal(out, render_loop(image, flow, 5))


def test_callback_exception_propagates_and_stops_rendering():
    image, flow = smooth_scene(seed=10)
    seen = []

    def cancel(i):
        seen.append(i)
        if i == 2:
            raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError, match="cancelled"):
        render_loop(image, flow, 8, on_frame=cancel)
    assert seen == [0, 1, 2]


def test_custom_importance_is_used():
    image, flow = smooth_scene(seed=11)
    plain = render_loop(image, flow, 6, importance=torch.zeros(1, 1, *image.shape[-2:]))
    default = render_loop(image, flow, 6)
    assert not torch.equal(plain, default)
    assert torch.equal(plain[:, 0], default[:, 0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"flow": torch.zeros(1, 2, 8, 9)}, ValueError, "resize_flow"),
        ({"flow": torch.zeros(3, 2, 8, 8)}, ValueError, "flow batch"),
        ({"image": torch.zeros(2, 4, 8, 8)}, ValueError, "3 channels"),
        ({"image": torch.full((2, 3, 8, 8), float("nan"))}, ValueError, "image contains NaN"),
        ({"flow": torch.full((1, 2, 8, 8), float("inf"))}, ValueError, "flow contains inf"),
        ({"n_frames": 0}, ValueError, "n_frames"),
        ({"n_frames": 2.0}, ValueError, "n_frames"),
        ({"integration": "cubic"}, ValueError, "integration"),
        ({"importance": torch.zeros(2, 2, 8, 8)}, ValueError, "importance"),
        ({"importance": torch.zeros(1, 1, 4, 8)}, ValueError, "importance"),
        ({"out": torch.zeros(2, 3, 8, 8, 3)}, ValueError, "out must be"),
        ({"out": torch.zeros(2, 4, 8, 8, 3, dtype=torch.float64)}, ValueError, "out must be"),
        ({"on_frame": 5}, TypeError, "on_frame"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, error, match):
    args = {"image": torch.zeros(2, 3, 8, 8), "flow": torch.zeros(1, 2, 8, 8), "n_frames": 4, **kwargs}
    image, flow, n_frames = args.pop("image"), args.pop("flow"), args.pop("n_frames")
    with pytest.raises(error, match=match):
        render_loop(image, flow, n_frames, **args)


def test_render_frame_rejects_out_of_range_index():
    with pytest.raises(ValueError, match="index"):
        render_frame(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4), 5, 4)


def test_2k_frame_with_a_local_region_renders_and_keeps_the_rest_exact():
    """A 2K (2048×1080) picture with motion in one band: bounded work, the still part untouched."""
    gen = torch.Generator().manual_seed(2048)
    image = torch.rand(1, 3, 1080, 2048, generator=gen)
    flow = torch.zeros(1, 2, 1080, 2048)
    flow[:, 0, 700:900, 300:1700] = 1.5
    frames = render_loop(image, flow, 3)
    assert frames.shape == (1, 3, 1080, 2048, 3)
    still = image.permute(0, 2, 3, 1)[:, :600]
    assert all(torch.equal(frames[:, i, :600], still) for i in range(3))
    assert not torch.equal(frames[:, 1, 700:900], frames[:, 0, 700:900])
