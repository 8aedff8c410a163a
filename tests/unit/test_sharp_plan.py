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
    _log_singular_values,
    _windows,
    choose_cycles,
)


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
