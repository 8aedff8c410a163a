"""Summation splatting: golden vectors, a slow reference loop, conservation, determinism, validation."""

import math

import pytest
import torch
from safetensors.torch import load_file

from models.loop.splatting import Workspace, softsplat, splat_points, splat_with_weights

pytestmark = pytest.mark.numerics  # .ci/run reruns these under other CPU kernels


def reference_splat(x: torch.Tensor, disp: torch.Tensor) -> torch.Tensor:
    """Line-by-line definition (docs/networks.md#softmax-splatting): four bilinear taps per source pixel, outside
    taps dropped."""
    batch, channels, height, width = x.shape
    out = torch.zeros(batch, channels, height, width, dtype=torch.float64)
    for b in range(batch):
        for y in range(height):
            for x_ in range(width):
                tx = x_ + float(disp[min(b, disp.shape[0] - 1), 0, y, x_])
                ty = y + float(disp[min(b, disp.shape[0] - 1), 1, y, x_])
                x0, y0 = math.floor(tx), math.floor(ty)
                fx, fy = tx - x0, ty - y0
                for xi, yi, w in (
                    (x0, y0, (1 - fx) * (1 - fy)),
                    (x0 + 1, y0, fx * (1 - fy)),
                    (x0, y0 + 1, (1 - fx) * fy),
                    (x0 + 1, y0 + 1, fx * fy),
                ):
                    if 0 <= xi < width and 0 <= yi < height:
                        out[b, :, yi, xi] += x[b, :, y, x_].double() * w
    return out.float()


def tricky_displacements(batch: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Integer, half-integer, negative and far out-of-frame displacements mixed with random ones."""
    gen = torch.Generator().manual_seed(seed)
    disp = torch.randn(batch, 2, height, width, generator=gen) * 2.5
    choices = torch.tensor([0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -3.0, 1000.0, -1000.0, width - 0.5])
    pick = torch.randint(0, len(choices), (batch, 2, height, width), generator=gen)
    use = torch.rand(batch, 2, height, width, generator=gen) < 0.6
    return torch.where(use, choices[pick], disp)


def test_matches_golden(golden_dir):
    tensors = load_file(str(golden_dir / "softsplat_summation.safetensors"))
    out = softsplat(tensors["input"], tensors["flow"])
    torch.testing.assert_close(out, tensors["output"], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("height", "width", "seed"), [(5, 7, 0), (6, 4, 1), (1, 9, 2), (8, 1, 3)])
def test_matches_reference_loop(height, width, seed):
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.rand(2, 3, height, width, generator=gen)
    disp = tricky_displacements(2, height, width, seed)
    torch.testing.assert_close(softsplat(x, disp), reference_splat(x, disp), atol=1e-5, rtol=0)


def test_integer_shift_moves_pixels_exactly():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    disp = torch.zeros(1, 2, 3, 4)
    disp[:, 0] = 1.0  # everything one pixel right: the last column leaves, the first becomes empty
    out = softsplat(x, disp)
    assert out[0, 0, :, 1:].tolist() == x[0, 0, :, :3].tolist()
    assert out[0, 0, :, 0].tolist() == [0.0, 0.0, 0.0]


def test_half_pixel_shift_splits_evenly_and_overlaps_sum():
    x = torch.ones(1, 1, 1, 3)
    disp = torch.full((1, 2, 1, 3), 0.0)
    disp[:, 0] = 0.5
    # Each pixel gives 0.5 to itself and 0.5 to its right neighbour; the last one loses half.
    assert softsplat(x, disp)[0, 0, 0].tolist() == [0.5, 1.0, 1.0]


def test_weight_multiplies_before_splatting_and_disp_batch_broadcasts():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(3, 2, 6, 5, generator=gen)
    weight = torch.rand(3, 1, 6, 5, generator=gen) + 0.1
    disp = tricky_displacements(1, 6, 5, seed=9)
    expected = reference_splat(x * weight, disp.expand(3, -1, -1, -1))
    torch.testing.assert_close(softsplat(x, disp, weight), expected, atol=1e-5, rtol=0)


def test_splat_with_weights_returns_numerator_and_denominator():
    gen = torch.Generator().manual_seed(6)
    x = torch.rand(2, 3, 7, 9, generator=gen)
    weight = torch.rand(2, 1, 7, 9, generator=gen)
    disp = tricky_displacements(2, 7, 9, seed=4)
    numerator, denominator = splat_with_weights(x, disp, weight)
    torch.testing.assert_close(numerator, softsplat(x, disp, weight), atol=1e-6, rtol=0)
    torch.testing.assert_close(denominator, softsplat(weight, disp), atol=1e-6, rtol=0)


def test_mass_is_conserved_when_everything_stays_inside():
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(1, 4, 32, 32, generator=gen)
    disp = torch.rand(1, 2, 32, 32, generator=gen) * 6 - 3
    disp[:, :, :4], disp[:, :, -4:], disp[:, :, :, :4], disp[:, :, :, -4:] = 0, 0, 0, 0
    out = softsplat(x, disp)
    torch.testing.assert_close(out.sum(dim=(2, 3)), x.sum(dim=(2, 3)), atol=1e-3, rtol=1e-5)


def test_deterministic_on_repeat():
    gen = torch.Generator().manual_seed(8)
    x = torch.rand(1, 4, 64, 64, generator=gen)
    disp = torch.randn(1, 2, 64, 64, generator=gen) * 0.7  # many collisions
    assert torch.equal(softsplat(x, disp), softsplat(x, disp))


def test_splat_points_scales_points_and_drops_far_and_border_taps():
    values = torch.tensor([[[1.0, 2.0, 4.0, 8.0, 16.0]]])
    x = torch.tensor([[0.0, 1.5, -0.5, 1e6, 2.5]])
    y = torch.tensor([[0.0, 0.0, 1.0, 0.0, -1e6]])
    scale = torch.tensor([[1.0, 1.0, 0.5, 1.0, 1.0]])
    out = splat_points(values, x, y, (2, 3), scale=scale)
    # 1 → (0, 0); 2 splits between (1, 0) and (2, 0); 4 · 0.5 keeps only its inner half on (0, 1).
    assert out.shape == (1, 1, 2, 3)
    assert out[0, 0].tolist() == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


def test_splat_points_in_a_workspace_reuses_its_buffers_and_gives_the_same_result():
    gen = torch.Generator().manual_seed(9)
    values, scale = torch.rand(2, 4, 500, generator=gen), torch.rand(500, generator=gen)
    workspace, results = Workspace(), []
    for _ in range(2):
        x, y = torch.rand(2, 500, generator=gen) * 40 - 5, torch.rand(2, 500, generator=gen) * 30 - 5
        reused = splat_points(values, x, y, (24, 32), scale=scale, workspace=workspace)
        assert torch.equal(reused, splat_points(values, x, y, (24, 32), scale=scale))
        results.append(reused)
    assert results[0].data_ptr() == results[1].data_ptr()  # the second splat allocated no new output
    assert x.min() < 0 and y.min() < 0  # the caller's positions are not clamped in place


@pytest.mark.parametrize(
    ("x", "disp", "weight", "match"),
    [
        (torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 5), None, r"disp must have shape \[B\|1, 2, H, W\]"),
        (torch.zeros(2, 3, 4, 4), torch.zeros(3, 2, 4, 4), None, r"disp must have shape \[B\|1, 2, H, W\] = 2\|1"),
        (torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4), None, "2 channels"),
        (torch.zeros(3, 4, 4), torch.zeros(1, 2, 4, 4), None, "x must have shape"),
        (torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), "1 channels"),
        (torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 3, 4), "weight must have shape"),
        (torch.full((1, 3, 4, 4), float("nan")), torch.zeros(1, 2, 4, 4), None, "x contains NaN"),
        (torch.zeros(1, 3, 4, 4), torch.full((1, 2, 4, 4), float("inf")), None, "disp contains inf"),
    ],
)
def test_bad_inputs_raise_value_error(x, disp, weight, match):
    with pytest.raises(ValueError, match=match):
        softsplat(x, disp, weight)


def test_integer_input_raises_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        softsplat(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.zeros(1, 2, 4, 4))
