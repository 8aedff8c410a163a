"""Learning-free flow engine: masks, directions, arrows, anchors, priors, determinism, batches."""

import math

import numpy as np
import pytest
import torch

from models.flow.engine import (
    DEFAULT_STRENGTH_AT_512,
    FlowResult,
    default_strength,
    flow_from_text,
)
from models.flow.hints import MotionHints
from models.prompt.vocabulary import CLASS_PRIORS, find_prior


def image(height=128, width=160, batch=1):
    return torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0))


def box_mask(height=128, width=160, box=(20, 110, 20, 140)):
    mask = torch.zeros(1, 1, height, width)
    mask[..., box[0] : box[1], box[2] : box[3]] = 1
    return mask


def band_mask(height, width, start, end, half_width):
    """A straight band (a 'river') from point start to point end, (x, y) in pixels."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    t = (((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    distance = torch.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))
    return (distance < half_width).float()[None, None]


def mean_angle(flow, mask):
    """Angle (degrees, CCW, y down) of the mean flow vector inside the mask."""
    inside = mask[0, 0] > 0.5
    mean = flow[0][:, inside].mean(dim=1)
    return math.degrees(math.atan2(-float(mean[1]), float(mean[0]))) % 360


def angle_diff(a, b):
    return abs((a - b + 180) % 360 - 180)


def flow_angles(vectors):
    """Angles (degrees) of [2, N] flow vectors."""
    return np.degrees(np.arctan2(-vectors[1].numpy(), vectors[0].numpy())) % 360


ARROWS_AND_ANCHOR = MotionHints(arrows=((0.2, 0.5, 0.4, 0.5),), anchors=((0.7, 0.5),))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": "a waterfall"},
        {"text": "a river"},
        {"text": "in upwards direction"},
        {"direction_angle": 33.0},
        {"hints": ARROWS_AND_ANCHOR},
        {"text": "a lake", "variation": 3.0},
    ],
)
def test_flow_is_exactly_zero_outside_the_mask_and_finite(kwargs):
    mask = box_mask()
    mask[..., 60:70, 60:100] = 0  # a hole
    result = flow_from_text(image(), mask, **kwargs)
    assert isinstance(result, FlowResult)
    flow = result.flow
    assert flow.shape == (1, 2, 128, 160) and flow.dtype == torch.float32
    assert torch.isfinite(flow).all()
    outside = mask[0, 0] <= 0.5
    assert (flow[0][:, outside] == 0).all()
    assert not torch.signbit(flow[0][:, outside]).any()  # +0.0, not -0.0
    assert flow[0][:, ~outside].abs().sum() > 0


@pytest.mark.parametrize("kwargs", [{"text": "a river"}, {"direction_angle": 45.0}, {"hints": ARROWS_AND_ANCHOR}])
def test_flow_is_smooth(kwargs):
    """No jumps: neighbouring pixels (including across the mask border) differ by a small fraction of the speed."""
    flow = flow_from_text(image(256, 256), box_mask(256, 256, (30, 220, 40, 230)), **kwargs).flow[0]
    peak = float(flow.norm(dim=0).max())
    step = max(float((flow[:, 1:] - flow[:, :-1]).abs().max()), float((flow[:, :, 1:] - flow[:, :, :-1]).abs().max()))
    assert step < 0.25 * peak


@pytest.mark.parametrize("angle", [0.0, 45.0, 90.0, 180.0, 270.0, 300.0])
def test_mean_direction_follows_the_requested_angle(angle):
    mask = box_mask()
    result = flow_from_text(image(), mask, direction_angle=angle, seed=7)
    assert angle_diff(mean_angle(result.flow, mask), angle) < 3
    assert result.angle_used == angle
    assert result.source == f"direction angle {angle:g}°"


@pytest.mark.parametrize(
    ("text", "angle"),
    [("a river in upwards direction", 90), ("water flowing towards the bottom right", 315), ("at 30°", 30)],
)
def test_direction_phrase_in_the_text_drives_the_flow(text, angle):
    mask = box_mask()
    result = flow_from_text(image(), mask, text)
    assert angle_diff(mean_angle(result.flow, mask), angle) < 3
    assert result.source.startswith("direction phrase")
    assert result.angle_used == angle


def test_prompt_comes_back_with_the_phrase_removed():
    result = flow_from_text(image(), box_mask(), "a river flowing in left to right direction in front of a hill")
    assert result.prompt == "a river flowing in front of a hill"
    assert result.angle_used == 0.0


def test_sample_sector_draws_a_seeded_angle_inside_the_sector():
    angles = {flow_from_text(image(), box_mask(), "in upwards direction", seed=s, sample_sector=True).angle_used
              for s in range(5)}
    assert len(angles) == 5 and all(80 <= a <= 100 for a in angles)


def test_zero_variation_gives_a_rigid_uniform_direction():
    mask = box_mask()
    flow = flow_from_text(image(), mask, direction_angle=120.0, variation=0.0).flow[0]
    vectors = flow[:, mask[0, 0] > 0.5]
    moving = vectors.norm(dim=0) > 1e-4
    assert np.allclose(flow_angles(vectors[:, moving]), 120.0, atol=1e-3)


def test_default_variation_bends_the_flow_a_little():
    mask = box_mask()
    flow = flow_from_text(image(), mask, direction_angle=0.0).flow[0]
    angles = flow_angles(flow[:, mask[0, 0] > 0.5])
    deviation = np.abs((angles + 180) % 360 - 180)
    assert 2 < deviation.max() < 25


def test_arrows_steer_the_flow():
    height, width = 128, 256
    mask = box_mask(height, width, (10, 118, 10, 246))
    hints = MotionHints(arrows=((0.15, 0.5, 0.35, 0.5), (0.75, 0.3, 0.75, 0.7)))
    result = flow_from_text(image(height, width), mask, "in upwards direction", hints=hints)
    flow = result.flow[0]
    assert result.source == "arrows (2 drawn)"
    assert any("ignored" in w for w in result.warnings)
    assert result.angle_used is None
    for (x0, y0, x1, y1) in hints.arrows:
        cx, cy = round((x0 + x1) / 2 * width), round((y0 + y1) / 2 * height)
        arrow_angle = math.degrees(math.atan2(-(y1 - y0) * height, (x1 - x0) * width)) % 360
        assert angle_diff(flow_angles(flow[:, cy, cx, None])[0], arrow_angle) < 20


def test_arrow_length_sets_the_speed():
    height, width = 128, 128
    mask = box_mask(height, width, (0, 128, 0, 128))
    short = flow_from_text(image(height, width), mask, hints=MotionHints(arrows=((0.3, 0.5, 0.5, 0.5),)))
    long = flow_from_text(image(height, width), mask, hints=MotionHints(arrows=((0.3, 0.5, 0.7, 0.5),)))
    ratio = long.flow[0, :, 64, 64].norm() / short.flow[0, :, 64, 64].norm()
    assert ratio == pytest.approx(2.0, rel=1e-4)
    expected = 0.2 * width / 60  # arrow = motion over 60 frames
    assert float(short.flow[0].norm(dim=0).median()) == pytest.approx(expected, rel=0.25)


def test_explicit_strength_rescales_the_fastest_arrow():
    mask = box_mask()
    hints = MotionHints(arrows=((0.2, 0.3, 0.4, 0.3), (0.2, 0.7, 0.3, 0.7)))
    flow = flow_from_text(image(), mask, hints=hints, strength=3.0, variation=0.0).flow[0]
    assert float(flow.norm(dim=0).max()) == pytest.approx(3.0, rel=0.1)


def test_anchors_stay_still():
    height, width = 128, 128
    mask = box_mask(height, width, (0, 128, 0, 128))
    hints = MotionHints(anchors=((0.5, 0.5), (0.25, 0.75)))
    flow = flow_from_text(image(height, width), mask, direction_angle=0.0, hints=hints).flow[0]
    speed = flow.norm(dim=0)
    for x, y in hints.anchors:
        assert speed[int(y * height), int(x * width)] < 0.02 * speed.max()
    assert speed[10, 110] > 0.5 * speed.max()


def test_deterministic_per_seed_and_different_across_seeds():
    mask = box_mask()
    a = flow_from_text(image(), mask, "a river", seed=3).flow
    b = flow_from_text(image(), mask, "a river", seed=3).flow
    c = flow_from_text(image(), mask, "a river", seed=4).flow
    assert torch.equal(a, b)
    assert not torch.allclose(a, c, atol=1e-3)


def test_variation_pattern_is_resolution_independent():
    """The same seed moves a 2× larger image the same way (twice as many px/frame, same pattern)."""
    small = flow_from_text(image(96, 128), box_mask(96, 128, (0, 96, 0, 128)), direction_angle=0.0).flow
    large = flow_from_text(image(192, 256), box_mask(192, 256, (0, 192, 0, 256)), direction_angle=0.0).flow
    pooled = torch.nn.functional.avg_pool2d(large, 2)
    assert torch.allclose(pooled / 2, small, atol=0.03 * float(small.abs().max()))


@pytest.mark.parametrize(
    ("text", "angle", "label"),
    [
        ("a large waterfall falling from hills during sunset", 270, "waterfall"),
        ("smoke over the chimney", 90, "smoke"),
        ("a campfire with flames", 90, "smoke"),
        ("a calm lake at dawn", 270, "sea"),
        ("ocean waves", 270, "sea"),
    ],
)
def test_class_priors_without_a_direction(text, angle, label):
    mask = box_mask()
    result = flow_from_text(image(), mask, text)
    assert result.source.startswith(f"prior: {label} → ")
    assert angle_diff(mean_angle(result.flow, mask), angle) < 3


def test_clouds_move_horizontally_and_slower_than_a_waterfall():
    mask = box_mask()
    clouds = flow_from_text(image(), mask, "clouds in the sky")
    falls = flow_from_text(image(), mask, "a waterfall")
    assert abs(math.sin(math.radians(mean_angle(clouds.flow, mask)))) < 0.05
    assert clouds.flow.norm(dim=1).mean() < 0.6 * falls.flow.norm(dim=1).mean()


@pytest.mark.parametrize(
    ("start", "end", "angle"),
    [
        ((20, 20), (236, 236), 315),  # top-left → bottom-right: flows down-right (towards the viewer)
        ((236, 20), (20, 236), 225),  # top-right → bottom-left: flows down-left
        ((10, 140), (246, 110), 7.2),  # nearly horizontal: flows left → right
    ],
)
def test_river_prior_flows_along_the_region_axis(start, end, angle):
    mask = band_mask(256, 256, start, end, half_width=18)
    result = flow_from_text(image(256, 256), mask, "a river")
    assert result.source == "prior: river → along the region's axis"
    assert result.angle_used is None
    assert angle_diff(mean_angle(result.flow, mask), angle) < 3


def test_river_bends_with_its_banks():
    """An L-shaped river flows down its vertical arm and then right along its horizontal arm."""
    mask = torch.maximum(band_mask(256, 256, (40, 10), (40, 200), 16), band_mask(256, 256, (40, 200), (245, 200), 16))
    flow = flow_from_text(image(256, 256), mask, "a creek", variation=0.0).flow[0]
    for y, x in [(80, 30), (80, 40), (80, 50), (150, 40)]:
        assert angle_diff(flow_angles(flow[:, y, x, None])[0], 270) < 5
    for y, x in [(195, 100), (200, 170), (205, 170)]:
        assert angle_diff(flow_angles(flow[:, y, x, None])[0], 0) < 5


def test_tributary_drains_into_the_main_river():
    """A T-shaped region: the side branch flows down into the main river, which flows left → right."""
    mask = torch.maximum(band_mask(256, 256, (5, 200), (250, 200), 15), band_mask(256, 256, (128, 20), (128, 200), 12))
    flow = flow_from_text(image(256, 256), mask, "a river", variation=0.0).flow[0]
    for y, x in [(60, 128), (120, 128)]:
        assert angle_diff(flow_angles(flow[:, y, x, None])[0], 270) < 5
    for y, x in [(200, 30), (200, 100), (200, 200), (200, 245)]:
        assert angle_diff(flow_angles(flow[:, y, x, None])[0], 0) < 8


def test_u_shaped_river_flows_round_the_bend():
    """Both ends at the top: the right one is downstream, so down the left arm, along, up the right arm."""
    arms = [((40, 10), (40, 200)), ((40, 200), (216, 200)), ((216, 200), (216, 10))]
    mask = torch.stack([band_mask(256, 256, a, b, 14) for a, b in arms]).amax(dim=0)
    flow = flow_from_text(image(256, 256), mask, "a stream", variation=0.0).flow[0]
    for (y, x), angle in [((60, 40), 270), ((120, 40), 270), ((200, 128), 0), ((120, 216), 90), ((60, 216), 90)]:
        assert angle_diff(flow_angles(flow[:, y, x, None])[0], angle) < 5


def test_separate_regions_each_follow_their_own_axis():
    mask = torch.maximum(band_mask(200, 300, (20, 40), (280, 40), 12), band_mask(200, 300, (150, 80), (150, 190), 12))
    flow = flow_from_text(image(200, 300), mask, "rivers", variation=0.0).flow[0]
    assert angle_diff(flow_angles(flow[:, 40, 150, None])[0], 0) < 5
    assert angle_diff(flow_angles(flow[:, 140, 150, None])[0], 270) < 5


def test_default_without_any_cue_follows_the_region():
    mask = band_mask(128, 256, (10, 64), (246, 64), 20)
    result = flow_from_text(image(128, 256), mask, "a painting")
    assert result.source.startswith("default")
    assert angle_diff(mean_angle(result.flow, mask), 0) < 5


def test_region_words_come_before_the_prompt():
    result = flow_from_text(image(), box_mask(), "a waterfall above the sea", region="smoke")
    assert result.source.startswith("prior: smoke")


def test_prior_table_and_lookup():
    labels = [prior.label for prior in CLASS_PRIORS]
    assert labels == ["waterfall", "river", "sea", "clouds", "smoke"]
    assert find_prior("a lake below a waterfall").label == "sea"  # earliest word wins
    assert find_prior("", "Cascades in the forest").label == "waterfall"
    assert find_prior("a streaming service") is None  # whole words only
    assert find_prior("mountains") is None


def test_default_strength_scales_with_image_size():
    assert default_strength(512, 512) == DEFAULT_STRENGTH_AT_512
    assert default_strength(1024, 1024) == pytest.approx(2 * DEFAULT_STRENGTH_AT_512)
    full = torch.ones(1, 1, 64, 64)
    small = flow_from_text(image(64, 64), full, direction_angle=0.0, variation=0.0).flow
    large = flow_from_text(image(128, 128), torch.ones(1, 1, 128, 128), direction_angle=0.0, variation=0.0).flow
    assert float(small.norm(dim=1).max()) == pytest.approx(default_strength(64, 64), rel=1e-4)
    assert float(large.norm(dim=1).max()) == pytest.approx(2 * float(small.norm(dim=1).max()), rel=1e-4)


def test_explicit_strength_is_the_core_speed_and_fades_at_the_border():
    mask = box_mask()
    flow = flow_from_text(image(), mask, direction_angle=90.0, strength=2.0, variation=0.0).flow[0]
    speed = flow.norm(dim=0)
    assert float(speed[65, 80]) == pytest.approx(2.0, rel=1e-5)
    assert float(speed[20, 80]) < 0.2 * 2.0  # first row inside the mask (fade over 3 % of the image)
    assert float(speed[20, 80]) < float(speed[21, 80]) < float(speed[22, 80]) < float(speed[25, 80])


def test_thin_region_still_reaches_full_speed_on_its_centre_line():
    mask = band_mask(256, 256, (10, 128), (246, 128), half_width=3)
    flow = flow_from_text(image(256, 256), mask, direction_angle=0.0, strength=2.0, variation=0.0).flow[0]
    assert float(flow.norm(dim=0)[128, 128]) > 1.5


def test_empty_mask_gives_zeros_and_a_warning():
    result = flow_from_text(image(), torch.zeros(1, 1, 128, 160), "a waterfall")
    assert (result.flow == 0).all()
    assert any("empty" in w for w in result.warnings)


def test_batch_with_per_item_masks_and_one_empty():
    masks = torch.cat([box_mask(), torch.zeros(1, 1, 128, 160), box_mask(box=(0, 40, 0, 40))])
    result = flow_from_text(image(batch=3), masks, "a river")
    assert result.flow.shape == (3, 2, 128, 160)
    assert (result.flow[1] == 0).all()
    assert [w for w in result.warnings if "empty" in w] == [w for w in result.warnings if "mask 1" in w]
    assert (result.flow[2][:, 40:, :] == 0).all() and result.flow[2].abs().sum() > 0


def test_batch_item_zero_matches_a_single_call_and_items_differ():
    mask = box_mask()
    batch = flow_from_text(image(batch=3), mask, "a river", seed=5).flow
    single = flow_from_text(image(), mask, "a river", seed=5).flow
    assert torch.equal(batch[:1], single)
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)


def test_one_image_many_masks():
    masks = torch.cat([box_mask(), box_mask(box=(0, 50, 0, 50))])
    assert flow_from_text(image(), masks, "a river").flow.shape == (2, 2, 128, 160)


def test_mask_of_another_size_is_resized():
    mask = box_mask(64, 80, (10, 55, 10, 70))
    result = flow_from_text(image(128, 160), mask, "a river")
    assert result.flow.shape == (1, 2, 128, 160)
    assert any("resized" in w for w in result.warnings)
    assert (result.flow[0][:, :15] == 0).all() and result.flow.abs().sum() > 0


@pytest.mark.parametrize(("height", "width"), [(97, 203), (203, 61), (5, 7), (1, 1), (300, 17)])
def test_odd_sizes(height, width):
    mask = torch.zeros(height, width)
    mask[height // 4 : max(height // 4 + 1, 3 * height // 4), width // 4 : max(width // 4 + 1, 3 * width // 4)] = 1
    for kwargs in ({"text": "a river"}, {"text": "a waterfall"}, {"hints": ARROWS_AND_ANCHOR}):
        flow = flow_from_text(image(height, width), mask, **kwargs).flow
        assert flow.shape == (1, 2, height, width)
        assert torch.isfinite(flow).all()
        assert (flow[0][:, mask <= 0.5] == 0).all()


def test_arrows_outside_the_mask_warn_but_still_steer():
    mask = box_mask(box=(80, 120, 20, 140))
    hints = MotionHints(arrows=((0.2, 0.1, 0.5, 0.1),))
    result = flow_from_text(image(), mask, hints=hints)
    assert any("no arrow touches the mask" in w for w in result.warnings)
    assert angle_diff(mean_angle(result.flow, mask), 0) < 5


def test_hints_json_is_accepted():
    result = flow_from_text(image(), box_mask(), hints="[[0.2, 0.5, 0.2, 0.2]]")
    assert angle_diff(mean_angle(result.flow, box_mask()), 90) < 5


def test_unrecognised_direction_warns():
    result = flow_from_text(image(), box_mask(), "a river in zigzag direction")
    assert any("not recognised" in w or "none was recognised" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("kwargs", "error", "problem"),
    [
        ({"image": torch.rand(1, 128, 160, 3)}, ValueError, r"\[B, 3, H, W\]"),
        ({"image": np.zeros((1, 3, 8, 8))}, TypeError, "torch.Tensor"),
        ({"mask": torch.ones(1, 2, 128, 160)}, ValueError, "shape"),
        ({"image": image(batch=2), "mask": torch.ones(3, 1, 128, 160)}, ValueError, "batch"),
        ({"strength": -1.0}, ValueError, "strength"),
        ({"strength": float("nan")}, ValueError, "strength"),
        ({"variation": 5.0}, ValueError, "variation"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, ValueError, "seed"),
        ({"direction_angle": float("inf")}, ValueError, "direction_angle"),
        ({"hints": 3}, TypeError, "hints"),
        ({"hints": "[[2, 0, 0, 0]]"}, ValueError, "outside 0..1"),
        ({"text": None}, TypeError, "text"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, error, problem):
    arguments = {"image": image(), "mask": box_mask(), **kwargs}
    with pytest.raises(error, match=problem):
        flow_from_text(**arguments)

