"""Hint maps with the official semantics (docs/pipeline.md#hint-maps) and the arrow JSON format."""

import functools
import json
import math

import numpy as np
import pytest
import torch

from models.flow.hints import (
    ARROW_SPAN_FRAMES,
    MAX_ARROWS,
    MotionHints,
    blend_hint_map,
    direction_hint,
    gaussian_blend,
    parse_arrows,
)

# The official single hint at unit magnitude (one home since the hint map for the networks is the same map).
direction_hint_map = functools.partial(direction_hint, px_per_frame=1.0)


def rect_mask(height=64, width=80, box=(10, 50, 20, 70)):
    mask = torch.zeros(1, 1, height, width)
    mask[..., box[0] : box[1], box[2] : box[3]] = 1
    return mask


# --- arrow JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "[]", "{}", '{"arrows": [], "anchors": []}', '{"version": 1}'])
def test_empty_inputs_mean_no_hints(text):
    hints = parse_arrows(text)
    assert hints.is_empty
    assert hints == MotionHints()


def test_bare_list_form():
    hints = parse_arrows("[[0.1, 0.2, 0.3, 0.4], [0, 1, 1, 0]]")
    assert hints.arrows == ((0.1, 0.2, 0.3, 0.4), (0.0, 1.0, 1.0, 0.0))
    assert hints.anchors == ()


def test_object_form_with_anchors_and_version():
    hints = parse_arrows('{"version": 1, "arrows": [[0.5, 0.5, 0.6, 0.5]], "anchors": [[0.2, 0.8], [1, 0]]}')
    assert hints.arrows == ((0.5, 0.5, 0.6, 0.5),)
    assert hints.anchors == ((0.2, 0.8), (1.0, 0.0))
    assert not hints.is_empty


def test_anchors_only_is_not_empty():
    assert not parse_arrows('{"anchors": [[0.5, 0.5]]}').is_empty


def test_to_json_round_trips():
    hints = MotionHints(arrows=((0.1, 0.2, 0.3, 0.4),), anchors=((0.5, 0.25),))
    assert parse_arrows(hints.to_json()) == hints
    assert json.loads(hints.to_json())["version"] == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[0.1, 0.2, 0.3", "not valid JSON"),
        ("arrows", "not valid JSON"),
        ('"[[0.1, 0.2, 0.3, 0.4]]"', "list of arrows or an object"),
        ("42", "list of arrows or an object"),
        ("[0.1, 0.2, 0.3, 0.4]", "wrong nesting"),
        ("[[[0.1, 0.2, 0.3, 0.4]]]", "wrong nesting"),
        ("[[0.1, 0.2, 0.3]]", "has 3 numbers, expected 4"),
        ('{"anchors": [[0.1, 0.2, 0.3]]}', r"anchors\[0\] has 3 numbers, expected 2"),
        ("[[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4, 0.5]]", r"arrows\[1\] has 5 numbers"),
        ("[[NaN, 0.2, 0.3, 0.4]]", "finite"),
        ("[[Infinity, 0.2, 0.3, 0.4]]", "finite"),
        ("[[0.1, 0.2, 1.5, 0.4]]", "outside 0..1"),
        ("[[-0.1, 0.2, 0.5, 0.4]]", "outside 0..1"),
        ('[[0.1, "0.2", 0.3, 0.4]]', "numbers only"),
        ("[[true, 0.2, 0.3, 0.4]]", "numbers only"),
        ("[[0.3, 0.3, 0.3, 0.3]]", "zero length"),
        ('{"arrow": [[0.1, 0.2, 0.3, 0.4]]}', "unknown key"),
        ('{"version": 2, "arrows": []}', "unsupported version"),
        ('{"version": true, "arrows": []}', "unsupported version"),
        ('{"arrows": {"a": 1}}', "must be a list"),
        (json.dumps([[0.1, 0.1, 0.2, 0.2]] * (MAX_ARROWS + 1)), "at most"),
    ],
)
def test_bad_json_names_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_arrows(text)


def test_parse_arrows_rejects_non_strings():
    with pytest.raises(TypeError, match="JSON string"):
        parse_arrows([[0.1, 0.2, 0.3, 0.4]])


def test_arrow_length_is_speed_over_the_documented_span():
    hints = MotionHints(arrows=((0.0, 0.5, 0.5, 0.5), (0.5, 0.0, 0.5, 0.25)))
    points, velocity = hints.arrow_samples(height=240, width=600)
    assert velocity[0] == pytest.approx([0.5 * 600 / ARROW_SPAN_FRAMES, 0.0])
    assert velocity[1] == pytest.approx([0.0, 0.25 * 240 / ARROW_SPAN_FRAMES])
    # midpoints, with 0 and 1 at the image edges (pixel centres at integers)
    assert points[0] == pytest.approx([0.25 * 600 - 0.5, 0.5 * 240 - 0.5])


def test_arrow_samples_span_tail_to_head():
    hints = MotionHints(arrows=((0.0, 0.0, 1.0, 1.0),))
    points, velocity = hints.arrow_samples(100, 100, per_arrow=5)
    assert points[:, 0] == pytest.approx([-0.5, 24.5, 49.5, 74.5, 99.5])
    assert np.allclose(velocity, velocity[0])


def test_anchor_points_in_pixels():
    hints = MotionHints(anchors=((0.5, 0.25),))
    assert hints.anchor_points(100, 200) == pytest.approx(np.array([[99.5, 24.5]]))
    assert MotionHints().anchor_points(10, 10).shape == (0, 2)


# --- official hint maps -------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [0, 90, 152.5, 270])
def test_direction_hint_is_mask_times_unit_vector(angle):
    mask = rect_mask()
    hint = direction_hint_map(mask, angle)
    assert hint.shape == (1, 2, 64, 80)
    assert hint.dtype == torch.float32
    expected = torch.tensor([math.cos(math.radians(angle)), -math.sin(math.radians(angle))])
    inside = mask[0, 0] > 0.5
    assert torch.allclose(hint[0][:, inside], expected[:, None].expand(2, int(inside.sum())), atol=1e-6)
    assert (hint[0][:, ~inside] == 0).all()


def test_single_blended_hint_equals_the_direction_hint():
    """With k = 1 the Gaussian weights cancel (docs/pipeline.md#hint-maps): the blend is exactly mask × u."""
    mask = rect_mask()
    ys, xs = torch.nonzero(mask[0, 0], as_tuple=True)
    centroid = [[int(xs.float().mean()), int(ys.float().mean())]]
    vector = [[math.cos(math.radians(30)), -math.sin(math.radians(30))]]
    assert torch.allclose(blend_hint_map(mask, centroid, vector), direction_hint_map(mask, 30), atol=1e-6)


def test_tiny_mask_gives_zero_hint():
    mask = torch.zeros(1, 1, 32, 32)
    mask[0, 0, 5, 5:9] = 1  # 4 pixels < 5
    assert (direction_hint_map(mask, 90) == 0).all()
    assert (blend_hint_map(mask, [[5, 5]], [[1, 0]]) == 0).all()
    mask[0, 0, 6, 5] = 1  # 5 pixels: enough
    assert direction_hint_map(mask, 90).abs().sum() == 5


def test_blend_matches_the_formula_with_sigma_h_over_k():
    mask = torch.ones(1, 1, 40, 60)
    points = np.array([[5.0, 5.0], [50.0, 30.0], [20.0, 35.0]])
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [-0.6, 0.8]])
    hint = blend_hint_map(mask, points, vectors)
    sigma = 40 / 3
    for x, y in [(0, 0), (30, 20), (59, 39), (20, 35)]:
        w = np.exp(-(np.hypot(points[:, 0] - x, points[:, 1] - y) / sigma) ** 2)
        expected = (w[:, None] * vectors).sum(0) / w.sum()
        assert hint[0, :, y, x].numpy() == pytest.approx(expected, abs=1e-5)


def test_blend_far_from_all_hints_falls_back_to_the_nearest_instead_of_nan():
    values = gaussian_blend([[0.0, 0.0], [3.0, 0.0]], [[1.0], [2.0]], 1, 2000, sigma=1.0)
    assert torch.isfinite(values).all()
    assert values[0, 0, -1] == pytest.approx(2.0)


def test_blend_eligibility_restricts_hints():
    eligible = torch.zeros(2, 10, dtype=torch.bool)
    eligible[0, :5] = True
    eligible[1, 5:] = True
    values = gaussian_blend([[9.0, 0.0], [0.0, 0.0]], [[1.0], [-1.0]], 1, 10, sigma=100.0, eligible=eligible)
    assert (values[0, 0, :5] == 1).all() and (values[0, 0, 5:] == -1).all()


def test_blend_hint_validates_inputs():
    mask = rect_mask()
    with pytest.raises(ValueError, match=r"\[k, 2\]"):
        blend_hint_map(mask, [[1, 2, 3]], [[1, 0, 0]])
    with pytest.raises(ValueError, match="finite"):
        blend_hint_map(mask, [[float("nan"), 2]], [[1, 0]])
    with pytest.raises(ValueError, match="finite number of degrees"):
        direction_hint_map(mask, float("inf"))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blend([[0.0, 0.0]], [[1.0]], 4, 4, sigma=0.0)
