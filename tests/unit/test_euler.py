"""Euler integration (docs/networks.md#euler-integration): golden vectors, hand-computed cases, the O(N) symmetric
loop."""

import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import models.loop.euler as euler
from models.loop.euler import EulerState, euler_integrate, loop_displacements, tracked_pixels

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels

GOLDEN = "spadeunet4softmaxsplating_set_a.safetensors"


@pytest.fixture(scope="module")
def golden(golden_dir):
    path = golden_dir / GOLDEN
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    return load_file(str(path)), meta


def test_golden_recipe_is_what_the_tests_assume(golden):
    tensors, meta = golden
    assert int(meta["n_frames"]) == 6
    assert "flow=clamp(raw*64,-1,1)*speed" in meta["input_recipe"]
    assert "input=cat(start,end,flow)" in meta["input_recipe"]
    assert tensors["indices"].tolist() == [[0, i, 5] for i in range(6)]
    # speed 0.5: the flow channels are bounded by ±0.5 (24 % saturated), the image channels by ±1.
    flow = tensors["input"][:, 6:8]
    assert float(flow.abs().max()) == 0.5


def test_euler_integrate_matches_golden(golden):
    tensors, _ = golden
    flow, n = tensors["input"][:, 6:8], 6
    for i in range(n):
        forward = euler_integrate(flow, i)
        backward = euler_integrate(-flow, n - i)
        torch.testing.assert_close(forward, tensors["euler_disp_forward"][i : i + 1], atol=1e-5, rtol=0)
        torch.testing.assert_close(backward, tensors["euler_disp_backward"][i : i + 1], atol=1e-5, rtol=0)


def test_loop_displacements_match_golden(golden):
    tensors, _ = golden
    flow = tensors["input"][:, 6:8]
    frames = list(loop_displacements(flow, 6))
    assert [i for i, _, _ in frames] == list(range(6))
    for i, forward, backward in frames:
        torch.testing.assert_close(forward, tensors["euler_disp_forward"][i : i + 1], atol=1e-5, rtol=0)
        torch.testing.assert_close(backward, tensors["euler_disp_backward"][i : i + 1], atol=1e-5, rtol=0)


def test_zero_steps_gives_zeros():
    flow = torch.randn(2, 2, 5, 7)
    disp = euler_integrate(flow, 0)
    assert disp.shape == (2, 2, 5, 7)
    assert torch.count_nonzero(disp) == 0


def _row_flow(values):
    flow = torch.zeros(1, 2, 1, len(values))
    flow[0, 0, 0] = torch.tensor(values)
    return flow


def test_lookup_rounds_half_to_even_at_the_current_position():
    # Pixel 1 moves 1 → 1.5 → (round 2) 2.5 → (round-half-even 2, not 3) 3.5 → (round 4) 4.5.
    flow = _row_flow([0.0, 0.5, 1.0, 7.0, 1.0, 0.0, 0.0, 0.0])
    expected = [0.5, 1.5, 2.5, 3.5]
    for steps, value in enumerate(expected, start=1):
        assert float(euler_integrate(flow, steps)[0, 0, 0, 1]) == value


def test_leaving_the_frame_invalidates_for_good_with_sentinel():
    # Pixel 3 of a 1×5 row: 3 → 4.5 (outside [0, 4]) → invalid; the flow would bring it back, it stays out.
    flow = _row_flow([0.0, 0.0, 0.0, 1.5, -3.0])
    sentinel = max(1, 5) + 1
    for steps in (1, 2, 5):
        disp = euler_integrate(flow, steps)
        assert disp[0, :, 0, 3].tolist() == [sentinel, sentinel]
    # Pixel 4 moves to 1 (inside, valid), then reads flow 0 there and stays.
    assert euler_integrate(flow, 3)[0, :, 0, 4].tolist() == [-3.0, 0.0]


def test_vertical_bounds_use_height():
    flow = torch.zeros(1, 2, 3, 9)
    flow[0, 1, 2, 4] = 0.75  # y 2 → 2.75 > H − 1 = 2
    disp = euler_integrate(flow, 1)
    assert disp[0, :, 2, 4].tolist() == [10.0, 10.0]
    assert torch.count_nonzero(disp[0, :, :2]) == 0


def test_bilinear_integration_interpolates_the_flow():
    width = 20
    flow = _row_flow([0.1 * x for x in range(width)])
    disp = euler_integrate(flow, 2, integration="bilinear")
    # x = 2: +0.2 → 2.2; the flow at 2.2 is 0.22 → 2.42 (rounded lookup would give 2.4).
    assert float(disp[0, 0, 0, 2]) == pytest.approx(0.42, abs=1e-6)
    assert float(euler_integrate(flow, 2)[0, 0, 0, 2]) == pytest.approx(0.4, abs=1e-6)


def test_bilinear_equals_round_for_constant_flow_on_integer_positions():
    flow = torch.zeros(2, 2, 9, 11)
    flow[:, 0, 2:7, 1:9] = 1.0
    flow[:, 1, 2:7, 1:9] = -1.0
    for steps in (1, 3, 6):
        torch.testing.assert_close(
            euler_integrate(flow, steps, "bilinear"), euler_integrate(flow, steps), atol=0, rtol=0
        )


def test_incremental_state_matches_from_scratch():
    torch.manual_seed(1)
    flow = torch.randn(2, 2, 13, 17) * 1.3
    flow[:, :, :4] = 0
    state = EulerState(flow)
    for steps in range(1, 9):
        state.step()
        assert state.steps == steps
        torch.testing.assert_close(state.displacement(), euler_integrate(flow, steps), atol=0, rtol=0)


def test_tracked_pixels_are_the_nonzero_flow_pixels_of_any_batch_item():
    flow = torch.zeros(2, 2, 3, 4)
    flow[0, 0, 1, 2] = 1.0
    flow[1, 1, 2, 0] = -0.5
    assert tracked_pixels(flow).tolist() == [1 * 4 + 2, 2 * 4 + 0]


@pytest.mark.parametrize("n_frames", [1, 2, 3, 5, 9, 16, 17])
@pytest.mark.parametrize("integration", ["round", "bilinear"])
def test_loop_displacements_equal_per_frame_integration(n_frames, integration):
    gen = torch.Generator().manual_seed(n_frames)
    flow = torch.randn(2, 2, 11, 14, generator=gen) * 0.9
    flow[:, :, 6:] = 0
    frames = list(loop_displacements(flow, n_frames, integration))
    assert [i for i, _, _ in frames] == list(range(n_frames))
    for i, forward, backward in frames:
        torch.testing.assert_close(forward, euler_integrate(flow, i, integration), atol=0, rtol=0)
        torch.testing.assert_close(backward, euler_integrate(-flow, n_frames - i, integration), atol=0, rtol=0)


def test_loop_uses_linear_steps_and_sqrt_checkpoints(monkeypatch):
    counts = {"step": 0, "copy": 0}
    original_step, original_copy = EulerState.step, EulerState.copy

    def counting_step(self):
        counts["step"] += 1
        original_step(self)

    def counting_copy(self):
        counts["copy"] += 1
        return original_copy(self)

    monkeypatch.setattr(euler.EulerState, "step", counting_step)
    monkeypatch.setattr(euler.EulerState, "copy", counting_copy)
    n = 100
    flow = torch.full((1, 2, 8, 8), 0.01)
    for _ in euler.loop_compact_displacements(flow, n):
        pass
    # Forward n − 1 steps, backward ≤ 2n; the official structure would take n² = 10 000.
    assert counts["step"] <= 3 * n
    assert counts["copy"] <= math.isqrt(n) + 1


def test_a_loop_s_two_traces_share_one_set_of_step_temporaries(monkeypatch):
    """The forward and backward traces step in turn: one set of temporaries (over 2 frames of memory at 512²)."""
    made = []
    original = euler._Scratch.__init__

    def counting(self, *args):
        made.append(self)
        original(self, *args)

    monkeypatch.setattr(euler._Scratch, "__init__", counting)
    flow = torch.full((1, 2, 8, 8), 0.3)
    frames = list(euler.loop_compact_displacements(flow, 9, leave="continue"))
    assert len(made) == 1 and made[0].lowest is None  # the bounds check's buffers only where pixels can leave
    assert len(frames) == 9


def test_loop_is_lazy_and_validates_eagerly():
    with pytest.raises(ValueError, match="n_frames"):
        loop_displacements(torch.zeros(1, 2, 4, 4), 0)
    with pytest.raises(ValueError, match="integration"):
        loop_displacements(torch.zeros(1, 2, 4, 4), 3, integration="cubic")


@pytest.mark.parametrize(
    ("flow", "steps", "error", "match"),
    [
        (torch.zeros(2, 4, 4), 1, ValueError, r"\[B, 2, H, W\]"),
        (torch.zeros(1, 3, 4, 4), 1, ValueError, "2 channels"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.int64), 1, TypeError, "floating-point"),
        (torch.full((1, 2, 4, 4), float("nan")), 1, ValueError, "NaN"),
        (torch.full((1, 2, 4, 4), float("inf")), 1, ValueError, "inf"),
        (torch.zeros(1, 2, 4, 4), -1, ValueError, "steps"),
        (torch.zeros(1, 2, 4, 4), 1.5, ValueError, "steps"),
        ("flow", 1, TypeError, "torch.Tensor"),
    ],
)
def test_bad_inputs_raise_clear_errors(flow, steps, error, match):
    with pytest.raises(error, match=match):
        euler_integrate(flow, steps)


@pytest.mark.parametrize("integration", ["round", "bilinear"])
@pytest.mark.parametrize("leave", ["invalidate", "continue"])
def test_reverse_and_lookup_step_exactly_as_the_flows_they_stand_for(integration, leave):
    """``reverse`` is -flow and ``lookup`` the flow gathered through it, bit for bit, without holding either."""
    generator = torch.Generator().manual_seed(3)
    flow = torch.randn(2, 2, 12, 16, generator=generator) * 1.7
    flow[:, :, :, :3] = 0  # still pixels take the flow of a moving one through the lookup
    lookup = torch.randint(0, 12 * 16, (1, 12 * 16), generator=generator, dtype=torch.int32)
    sources = torch.arange(12 * 16)
    looked_up = torch.gather(flow.flatten(2), 2, lookup.long().expand(2, 2, -1)).view_as(flow)

    def state(field: torch.Tensor, **options) -> EulerState:
        return EulerState(field, integration, sources, leave, **options)

    pairs = [(state(flow, reverse=True), state(-flow)), (state(flow, lookup=lookup), state(looked_up))]
    for state, reference in pairs:
        for _ in range(7):
            state.step()
            reference.step()
            assert torch.equal(state.compact_displacement(), reference.compact_displacement())
