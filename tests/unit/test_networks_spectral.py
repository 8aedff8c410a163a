"""Legacy spectral norm: legacy key layout, W/σ folded once at load, never a stale weight
(docs/networks.md#legacy-spectral-norm, docs/networks.md#checkpoint-loading)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.networks.spectral import SpectralNormConv2d

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels


def _official_layer(seed: int) -> nn.Conv2d:
    """torch's own legacy spectral_norm in eval (the official layer) with a random u, v."""
    torch.manual_seed(seed)
    layer = nn.utils.spectral_norm(nn.Conv2d(5, 7, 3, padding=1))
    return layer.eval()


def _ours(official: nn.Module) -> SpectralNormConv2d:
    layer = SpectralNormConv2d(5, 7, 3, padding=1)
    layer.load_state_dict(official.state_dict(), strict=True)
    return layer


def _conv_tolerance(layer: nn.Module, x: torch.Tensor) -> float:
    """Both sides fold σ through a matrix-vector product (its summation order is the BLAS kernel's) and convolve:
    a few float32 roundings of Σ|w·x|, the largest magnitude an output accumulates, not a fixed 1e-6."""
    return 32 * torch.finfo(torch.float32).eps * float(F.conv2d(x.abs(), layer.weight.abs(), padding=1).max())


def test_legacy_keys_in_legacy_order_and_no_weight_key():
    layer = SpectralNormConv2d(5, 7, 3, padding=1)
    assert list(layer.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert list(_official_layer(0).state_dict()) == list(layer.state_dict())
    no_bias = SpectralNormConv2d(5, 7, 1, bias=False)
    assert list(no_bias.state_dict()) == ["weight_orig", "weight_u", "weight_v"]


def test_same_output_as_torch_legacy_spectral_norm_in_eval():
    official = _official_layer(1)
    ours = _ours(official)
    x = torch.randn(2, 5, 9, 11)
    with torch.no_grad():
        expected = official(x)
    torch.testing.assert_close(ours(x), expected, atol=_conv_tolerance(ours, x), rtol=0)
    matrix = official.weight_orig.reshape(7, -1)
    sigma = official.weight_u @ matrix @ official.weight_v
    torch.testing.assert_close(ours.weight, official.weight_orig / sigma)


def test_fold_happens_once_at_load_and_u_v_never_change():
    ours = _ours(_official_layer(2))
    u, v = ours.weight_u.clone(), ours.weight_v.clone()
    folded = ours.weight_folded
    x = torch.randn(1, 5, 6, 6)
    for _ in range(3):
        ours(x)
    assert ours.weight_folded is folded  # no refold while nothing changed
    assert torch.equal(ours.weight_u, u) and torch.equal(ours.weight_v, v)
    assert "weight_folded" not in ours.state_dict()


def test_in_place_edit_of_weight_orig_is_never_served_stale():
    ours = _ours(_official_layer(3))
    x = torch.randn(1, 5, 6, 6)
    before = ours(x)
    with torch.no_grad():
        ours.weight_orig.mul_(2)  # W/σ is scale invariant…
        ours.weight_u.neg_()  # …but flipping u flips σ's sign
    after = ours(x)
    bias = ours.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(after - bias, -(before - bias), atol=1e-5, rtol=1e-5)


def test_reload_and_dtype_move_refold():
    first, second = _official_layer(4), _official_layer(5)
    ours = _ours(first)
    ours.load_state_dict(second.state_dict())
    x = torch.randn(1, 5, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), second(x), atol=_conv_tolerance(ours, x), rtol=0)
    ours.double()
    assert ours.weight.dtype == torch.float64
    assert ours(x.double()).dtype == torch.float64


def test_layer_built_and_loaded_under_inference_mode():
    """ComfyUI runs nodes under inference_mode: its tensors have no version counter; folding still works."""
    official = _official_layer(6)
    with torch.inference_mode():
        ours = _ours(official)
        x = torch.randn(1, 5, 6, 6)
        torch.testing.assert_close(ours(x), F.conv2d(x, ours.weight, ours.bias, padding=1))
        with torch.no_grad():
            expected = official(x)
        torch.testing.assert_close(ours(x), expected, atol=_conv_tolerance(ours, x), rtol=0)
