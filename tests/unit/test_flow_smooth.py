"""The smooth fields shared by the flow and loop stages: the seeded random field and the normalised blur."""

import numpy as np
import torch

from models.flow.smooth import gaussian_blur, normalised_blur, smooth_random_field


def test_the_random_field_is_the_seeded_grid_upsampled_with_its_corners_on_the_corner_pixels():
    field = smooth_random_field((33, 65), (2, 4), 2, (7, 1))
    grid = np.random.default_rng((7, 1)).uniform(-1.0, 1.0, (2, 3, 5))  # numpy's numbers: the same on every CPU
    corners = field[:, :: 16, :: 16]
    torch.testing.assert_close(corners, torch.from_numpy(grid).float(), atol=1e-6, rtol=0)
    assert torch.equal(field, smooth_random_field((33, 65), (2, 4), 2, (7, 1)))
    assert not torch.allclose(field, smooth_random_field((33, 65), (2, 4), 2, (7, 2)), atol=0.1)


def test_the_same_seed_gives_the_same_pattern_at_any_size():
    small = smooth_random_field((21, 41), (3, 6), 1, 5)
    large = smooth_random_field((41, 81), (3, 6), 1, 5)  # pixel 2i of the large field sits where pixel i does
    torch.testing.assert_close(large[:, ::2, ::2], small, atol=1e-5, rtol=0)


def test_the_random_field_is_smooth_and_about_unit_range():
    field = smooth_random_field((64, 64), (4, 4), 3, 11)
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
