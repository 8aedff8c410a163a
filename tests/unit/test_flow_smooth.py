"""The smooth fields shared by the flow and loop stages: the seeded random field and the normalised blur."""

import numpy as np
import torch

from models.flow.smooth import gaussian_blur, normalised_blur, smooth_random_field


def _samples(count: int, rows: int, cols: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(-1.0, 1.0, (count, rows, cols)))


def test_the_random_field_is_its_grid_upsampled_with_the_corners_on_the_corner_pixels():
    samples = _samples(2, 3, 5, 7)
    field = smooth_random_field(samples, (33, 65))
    assert field.shape == (2, 33, 65) and field.dtype == torch.float32
    torch.testing.assert_close(field[:, ::16, ::16], samples.float(), atol=1e-6, rtol=0)


def test_the_same_samples_give_the_same_pattern_at_any_size():
    samples = _samples(1, 4, 7, 5)
    small, large = smooth_random_field(samples, (21, 41)), smooth_random_field(samples, (41, 81))
    torch.testing.assert_close(large[:, ::2, ::2], small, atol=1e-5, rtol=0)  # pixel 2i of the large sits at i


def test_the_random_field_is_smooth_and_keeps_about_its_samples_range():
    field = smooth_random_field(_samples(3, 5, 5, 11), (64, 64))
    assert float(field.abs().max()) < 1.3  # bicubic overshoot only
    step = (field[:, 1:] - field[:, :-1]).abs().max()
    assert float(step) < 0.2  # a cell is 16 px: no jump between neighbouring pixels


def test_the_normalised_blur_keeps_what_lies_outside_the_weight_out():
    values = torch.full((1, 2, 24, 24), 0.5)
    values[..., 12:] = 100.0  # outside the weight: must not bleed in
    weight = torch.zeros(1, 1, 24, 24)
    weight[..., :12] = 1.0
    out = normalised_blur(values, weight, 2.0)
    torch.testing.assert_close(out[..., :12], torch.full((1, 2, 24, 12), 0.5))
    assert float(out[..., 12:16].max()) < 1.0  # the inside's value reaches a few pixels beyond it
    torch.testing.assert_close(out[..., 20:], values[..., 20:])  # no weight reaches: the values as they were


def test_with_weight_everywhere_the_normalised_blur_is_the_blur():
    values = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(normalised_blur(values, torch.ones(1, 1, 16, 20), 1.5), gaussian_blur(values, 1.5))
