"""Flow preparation: validation, resizing with vector rescaling, clamping, masking."""

import pytest
import torch

from models.checks import check_flow
from models.flow.ops import clamp_flow, mask_flow, resize_flow

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels


def test_resize_scales_vectors_by_the_size_ratio():
    flow = torch.empty(2, 2, 8, 16)
    flow[:, 0], flow[:, 1] = 1.0, 2.0
    out = resize_flow(flow, (16, 48))  # H × 2, W × 3
    assert out.shape == (2, 2, 16, 48)
    torch.testing.assert_close(out[:, 0], torch.full((2, 16, 48), 3.0))
    torch.testing.assert_close(out[:, 1], torch.full((2, 16, 48), 4.0))


def test_resize_down_and_nearest_mode():
    flow = torch.zeros(1, 2, 4, 4)
    flow[0, 0, :, 2:] = 4.0
    out = resize_flow(flow, (2, 2), mode="nearest")
    assert out[0, 0].tolist() == [[0.0, 2.0], [0.0, 2.0]]
    assert torch.count_nonzero(out[0, 1]) == 0


def test_resize_bilinear_interpolates_smoothly():
    flow = torch.zeros(1, 2, 1, 2)
    flow[0, 0, 0] = torch.tensor([0.0, 1.0])
    out = resize_flow(flow, (1, 4))[0, 0, 0] / 2.0  # undo the ×2 vector scaling
    assert out.tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])


def test_resize_same_size_returns_an_equal_copy():
    flow = torch.randn(1, 2, 5, 6)
    out = resize_flow(flow, (5, 6))
    assert torch.equal(out, flow) and out.data_ptr() != flow.data_ptr()


@pytest.mark.parametrize("size", [(0, 4), (4,), "64", (4.0, 4), (True, 4)])
def test_resize_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match="size"):
        resize_flow(torch.zeros(1, 2, 4, 4), size)


def test_resize_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        resize_flow(torch.zeros(1, 2, 4, 4), (8, 8), mode="bicubic")


def test_clamp_is_per_component():
    flow = torch.tensor([[[[3.0, -0.2]], [[-5.0, 0.7]]]])
    out = clamp_flow(flow, 1)
    expected = torch.tensor([[[[1.0, -0.2]], [[-1.0, 0.7]]]])
    assert torch.equal(out, expected)


@pytest.mark.parametrize("max_px", [-1.0, float("nan"), "1", None])
def test_clamp_rejects_bad_limits(max_px):
    with pytest.raises(ValueError, match="max_px"):
        clamp_flow(torch.zeros(1, 2, 2, 2), max_px)


def test_mask_of_another_size_is_resized_and_multiplied():
    flow = torch.ones(1, 2, 8, 8)
    mask = torch.zeros(1, 4, 4)  # ComfyUI-style [B, H, W]
    mask[:, :, 2:] = 1.0
    out = mask_flow(flow, mask)
    assert out.shape == flow.shape
    assert torch.count_nonzero(out[:, :, :, :3]) == 0
    assert torch.all(out[:, :, :, 5:] == 1.0)
    assert torch.all((out[:, :, :, 3:5] > 0) & (out[:, :, :, 3:5] < 1))  # soft edge from bilinear


def test_mask_same_size_channel_form_and_batch_broadcast():
    flow = torch.randn(1, 2, 3, 5)
    mask = torch.rand(2, 1, 3, 5)
    out = mask_flow(flow, mask)
    assert out.shape == (2, 2, 3, 5)
    torch.testing.assert_close(out, flow * mask)


def test_mask_rejects_bad_masks():
    with pytest.raises(ValueError, match="batch"):
        mask_flow(torch.zeros(2, 2, 4, 4), torch.ones(3, 4, 4))
    with pytest.raises(ValueError, match=r"mask must have shape \[H, W\], \[B, H, W\] or \[B, 1, H, W\]"):
        mask_flow(torch.zeros(1, 2, 4, 4), torch.ones(1, 3, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        mask_flow(torch.zeros(1, 2, 4, 4), torch.full((1, 4, 4), float("nan")))
    with pytest.raises(TypeError, match="torch.Tensor"):
        mask_flow(torch.zeros(1, 2, 4, 4), [[1.0]])


@pytest.mark.parametrize(
    ("flow", "error", "match"),
    [
        (torch.zeros(2, 4, 4), ValueError, r"shape \[B, 2, H, W\]"),
        (torch.zeros(1, 3, 4, 4), ValueError, "2 channels"),
        (torch.zeros(1, 2, 0, 4), ValueError, "empty"),
        (torch.zeros(1, 2, 4, 4, dtype=torch.int32), TypeError, "floating-point"),
        (torch.tensor([[[[0.0, float("nan")]], [[0.0, 0.0]]]]), ValueError, "NaN"),
        (torch.tensor([[[[0.0, float("-inf")]], [[0.0, 0.0]]]]), ValueError, "inf"),
        (None, TypeError, "torch.Tensor"),
    ],
)
def test_check_flow_errors_name_the_problem(flow, error, match):
    with pytest.raises(error, match=match):
        check_flow(flow)


def test_check_flow_accepts_a_good_flow():
    check_flow(torch.zeros(3, 2, 5, 7))
