"""The sharp loop's analysis on analytic maps: the distortion measure, the cycle choice, the windows."""

import math

import pytest
import torch

from models.loop.sharp_loop import make_plan
from models.loop.sharp_plan import (
    CYCLE_DISTORTION,
    LOW_BAND_MARGIN,
    MAX_DISTORTION,
    MIN_CYCLE_FRAMES,
    STAGGER_CELL_PX,
    _downstream,
    _Grid,
    _log_singular_values,
    _spread,
    _stagger,
    _stagger_field,
    _stratified_samples,
    _windows,
    choose_cycles,
)
from models.loop.sharp_stack import LAYER_SEED_STEP


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.0, 1.25, 3.0])
def test_a_uniform_scaling_by_s_measures_abs_log_s(scale):
    ys, xs = torch.meshgrid(torch.arange(6.0), torch.arange(9.0), indexing="ij")
    stride = 4
    positions = torch.stack((xs, ys)).unsqueeze(0) * stride * scale + 17.0  # the map p → s·p + c
    measured = _log_singular_values(positions, stride)
    # Equal singular values: the discriminant under the square root cancels, so float32 rounding (~1e-7) becomes
    # ~√1e-7 ≈ 3e-4 in σ on any CPU; 1e-3 still tells |log 0.8| = 0.223 from any other scaling by more than 0.1 %.
    torch.testing.assert_close(measured, torch.full_like(measured, abs(math.log(scale))), atol=1e-3, rtol=0)


def test_an_anisotropic_map_measures_its_worse_axis():
    ys, xs = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    positions = torch.stack((xs * 2.0, ys * 0.9)).unsqueeze(0)  # stretched 2× across, squashed 0.9× down
    torch.testing.assert_close(_log_singular_values(positions, 1), torch.full((1, 25), math.log(2.0)))


def _flat(length: int, value: float, points: int = 3) -> torch.Tensor:
    return torch.full((length + 1, 1, points), value)


def test_choose_cycles_cuts_the_loop_only_where_the_middle_is_distorted():
    moving = torch.ones(1, 3)
    calm = _flat(60, 0.0)
    assert choose_cycles(calm, calm, moving, 60) == 1
    torn = _flat(60, CYCLE_DISTORTION + 0.1)
    assert choose_cycles(torn, calm, moving, 60) == 2
    # too few frames for two cycles of MIN_CYCLE_FRAMES: one, however torn
    assert choose_cycles(_flat(20, 1.0), calm[:21], moving, 2 * MIN_CYCLE_FRAMES - 1) == 1
    # only the moving points count
    assert choose_cycles(torn, calm, torch.zeros(1, 3), 60) == 1


def test_the_windows_sit_where_both_phases_hold_and_the_low_band_fades_a_quarter_cycle_wider():
    length, transition = 40, 4
    forward = _flat(length, 0.0, 2)
    backward = _flat(length, 0.0, 2)
    stagger = torch.tensor([[0.5, 0.0]])
    w = _windows(forward, backward, stagger, length, transition)
    assert not w.infeasible.any()
    torch.testing.assert_close(w.start, torch.tensor([[18.0, 0.0]]))  # centred on the preferred time
    torch.testing.assert_close(w.end, torch.tensor([[22.0, 4.0]]))
    margin = LOW_BAND_MARGIN * length
    torch.testing.assert_close(w.fade_start, torch.tensor([[18.0 - margin, 0.0]]))  # clipped at b_first = 0
    torch.testing.assert_close(w.fade_end, torch.tensor([[22.0 + margin, 4.0 + margin]]))


def test_where_both_phases_hold_briefly_the_low_band_follows_the_detail():
    length, transition = 40, 4
    steps = torch.arange(length + 1, dtype=torch.float32).view(-1, 1, 1)
    forward = torch.where(steps <= 25, 0.0, 1.0)  # usable up to frame 25
    backward = torch.where(steps <= 25, 0.0, 1.0)  # usable from frame 40 − 25 = 15: 10 frames < 0.75 · 40
    w = _windows(forward, backward, torch.tensor([[0.5]]), length, transition)
    assert not w.infeasible.any()
    assert 15 <= float(w.start) and float(w.end) <= 25
    assert torch.equal(w.fade_start, w.start) and torch.equal(w.fade_end, w.end)


def test_a_flow_that_cannot_loop_crosses_over_where_both_phases_are_equally_distorted():
    length, transition = 30, 4
    steps = torch.arange(length + 1, dtype=torch.float32).view(-1, 1, 1)
    forward = steps * 0.05  # exceeds MAX_DISTORTION after 7 steps
    backward = steps * 0.02  # after 17 steps: usable from frame 13 on, forward only up to 7
    w = _windows(forward, backward, torch.tensor([[0.5]]), length, transition)
    assert w.infeasible.all()
    # the frame where the larger of the two distortions is smallest: max(0.05·8, 0.02·22) = 0.44 < 0.45 at frame 9
    crossing = 8
    assert float(forward[crossing, 0, 0]) > MAX_DISTORTION
    torch.testing.assert_close(w.start, torch.tensor([[crossing - 2.0]]))
    torch.testing.assert_close(w.end, torch.tensor([[crossing + 2.0]]))
    assert torch.equal(w.fade_start, w.start)


def test_a_plan_picks_one_cycle_for_a_calm_translation_and_two_for_a_spreading_flow():
    flow = torch.zeros(1, 2, 64, 64)
    flow[:, 0, 8:56, 8:56] = 0.5
    assert make_plan(flow, 48).bounds == (0, 48)
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    spreading = torch.stack((xs - 31.5, ys - 31.5)).unsqueeze(0) * 0.04  # texture grows by 4 % a frame
    assert make_plan(spreading, 48).bounds == (0, 24, 48)


def test_a_short_room_spreads_its_windows_instead_of_stacking_them_on_its_edge():
    length, transition = 40, 4
    steps = torch.arange(length + 1, dtype=torch.float32).view(-1, 1, 1)
    forward = _flat(length, 0.0)
    backward = torch.where(steps <= 10, 0.0, 1.0).expand(-1, 1, 3)  # usable from frame 30 on: room 30–40
    w = _windows(forward, backward, torch.tensor([[0.0, 0.5, 1.0]]), length, transition)
    # each stagger lands at its own place in the room (a preferred time clamped to it would put all three at 30)
    torch.testing.assert_close(w.start, torch.tensor([[30.0, 33.0, 36.0]]))


def _square_grid(points: int, stride: int = 4) -> _Grid:
    index = torch.arange(points * points)
    return _Grid(slice(0, points * stride), slice(0, points * stride), stride, (points, points), index)


@pytest.mark.parametrize("seed", range(4))
def test_every_aligned_block_of_stagger_samples_holds_each_stratum_once(seed):
    samples = _stratified_samples(2, (9, 12), torch.Generator().manual_seed(seed))
    assert float(samples.min()) >= 0.0 and float(samples.max()) < 1.0
    for level in (1, 2):
        size = 2 ** level
        strata = (samples * 4 ** level).floor().long()
        for y in range(0, 9 - size + 1, size):
            for x in range(0, 12 - size + 1, size):
                for block in strata[:, y:y + size, x:x + size].flatten(1):
                    assert sorted(block.tolist()) == list(range(4 ** level))
    # neighbours within a 2 × 2 block share every coarser digit: a quarter of the cycle apart (up to the jitter)
    pairs = samples[:, :8, :12].unflatten(1, (4, 2)).unflatten(3, (6, 2))  # [B, 4, 2, 6, 2]
    gaps = (pairs[:, :, 0] - pairs[:, :, 1]).abs().flatten().tolist()
    gaps += (pairs[..., 0] - pairs[..., 1]).abs().flatten().tolist()
    assert min(gaps) > 0.24


@pytest.mark.parametrize("seed", range(4))
def test_every_patch_of_three_cells_switches_in_every_quarter_of_the_cycle(seed):
    points = 128  # a 512-px region on the analysis grid: 8 cells across
    moving = torch.ones(1, points * points)
    stagger = _spread(_stagger_field(_square_grid(points), 1, seed, moving.device).flatten(1), moving)
    stagger = stagger.view(points, points)
    size = 3 * STAGGER_CELL_PX // 4  # three cells, in grid points
    for y in range(0, points - size + 1, 8):
        for x in range(0, points - size + 1, 8):
            window = stagger[y:y + size, x:x + size]
            quarters = (window * 4).floor().clamp(max=3).flatten()
            shares = torch.bincount(quarters.long(), minlength=4).float() / quarters.numel()
            assert float(shares.min()) > 0.05, (y, x, shares)


def test_seeds_and_layers_get_their_own_stagger_patterns():
    grid = _square_grid(64)
    fields = [_stagger_field(grid, 1, seed, torch.device("cpu")).flatten()
              for seed in (0, 1, LAYER_SEED_STEP)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert abs(float(torch.corrcoef(torch.stack((fields[a], fields[b])))[0, 1])) < 0.5


def test_a_translation_switches_later_downstream():
    points = 64
    grid = _square_grid(points)
    moving = torch.ones(1, points * points)
    flow = torch.zeros(1, 2, points * 4, points * 4)
    flow[:, 0] = -1.0  # to the left: downstream is the left
    index = (torch.arange(points).view(-1, 1) * 4 * points * 4 + torch.arange(points).view(1, -1) * 4).flatten()
    grid = grid._replace(index=index)
    downstream = _downstream(flow, grid, moving).view(points, points)
    assert torch.all(downstream[:, :-1] > downstream[:, 1:])  # a ramp from right to left…
    assert torch.allclose(downstream[0], downstream[-1])  # …that does not change across the flow
    columns = _stagger(grid, moving, downstream.flatten()[None], 0).view(points, points).mean(dim=0)
    assert float(columns[: points // 3].mean()) > float(columns[-points // 3:].mean()) + 0.1
