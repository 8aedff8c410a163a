"""Direction field of rivers that follow their region's shape (no learned weights).

Each connected region that is a channel (length ≥ 3 × mean width) flows down a potential: the
geodesic distance to its downstream end (an eikonal solve inside the mask, so a curved river bends
with its banks and a side branch drains into the main river), relaxed towards the harmonic
(potential-flow) solution with both ends and the branch tips held fixed, whose gradient runs parallel
to the banks. The ends are those of the region's longest path; downstream is the end lower in the
image (towards the viewer), or the right one when the ends lie within 15° of horizontal. Regions too
stubby to be channels flow along their PCA main axis with the same sign rule; roundish ones (axis
variance ratio < 1.5) flow down. Everything runs on a small working grid (the field is smooth).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from .smooth import normalised_blur

_STEEP = math.sin(math.radians(15.0))  # flows down unless within 15° of horizontal, then left → right
_MIN_ELONGATION = 1.5  # PCA variance ratio below which a region is "round" and flows down
_MIN_CHANNEL_ELONGATION = 3.0  # length / mean width from which a region is a channel that bends
_HORIZONTAL = np.array([[1, 0, 1]], dtype=np.uint8)  # erosion with it = min(left, right) neighbour
_VERTICAL = _HORIZONTAL.T.copy()
_UNREACHED = np.float32(1e30)  # cv2.erode pads with the largest float32, not inf
_HARMONIC_SWEEPS = 300


def river_directions(labels: np.ndarray) -> np.ndarray:
    """Unit vectors [2, h, w] (x, y-down) along each region, extended a few pixels beyond it.

    ``labels``: int [h, w] regions as from ``cv2.connectedComponents(mask, connectivity=4)`` (0 = outside;
    4-connected because the eikonal solver only steps to 4-neighbours), with at least one region.
    """
    count = int(labels.max()) + 1
    inside = labels > 0
    ys, xs = np.nonzero(inside)
    lab = labels[ys, xs]
    ax, ay, _ = _region_axes(xs, ys, lab, count)
    from_upstream, from_downstream, length, longest = _channel_ends(inside, ys, xs, lab, count)
    width = np.bincount(lab, minlength=count) / np.maximum(longest, 1.0)
    channel = longest >= _MIN_CHANNEL_ELONGATION * width  # i.e. longest path² ≥ 3 × area
    cap = (0.5 * width)[labels]
    sink = inside & (from_upstream >= length[labels] - cap) & (from_downstream <= 2 * cap)
    source = inside & (from_downstream >= length[labels] - cap) & (from_upstream <= 2 * cap) & ~sink
    potential = _harmonic_relaxation(_geodesic_distance(inside, sink), labels, sink, source)
    gx, gy = _masked_gradient(potential, inside)
    norm = np.hypot(gx, gy)
    along = channel[labels] & (norm > 1e-6)
    gx = np.where(along, -gx / np.maximum(norm, 1e-12), ax[labels])
    gy = np.where(along, -gy / np.maximum(norm, 1e-12), ay[labels])
    return _smooth_directions(_copy_into_caps(np.stack([gx, gy]), labels, sink | source), inside)


def _channel_ends(
    inside: np.ndarray, ys: np.ndarray, xs: np.ndarray, lab: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Geodesic distances from each region's upstream and downstream end, the distance between them, and the
    length of the region's longest path.

    The ends are those of the region's longest path (a double geodesic sweep from an arbitrary pixel),
    each moved to the middle of its end (the pixel farthest from the banks there) so that the distance
    fronts cross the channel square rather than tilted towards a corner. Downstream is the end lower in
    the image, or the right one when the ends lie within 15° of horizontal.
    """
    first = np.unique(lab, return_index=True)[1]
    end_a = _region_argmax(_geodesic_distance(inside, _pixels(inside.shape, ys[first], xs[first]))[ys, xs], lab)
    from_a = _geodesic_distance(inside, _pixels(inside.shape, ys[end_a], xs[end_a]))[ys, xs]
    end_b = _region_argmax(from_a, lab)
    from_b = _geodesic_distance(inside, _pixels(inside.shape, ys[end_b], xs[end_b]))[ys, xs]
    length = np.r_[0.0, from_a[end_b]]
    width = np.bincount(lab, minlength=count) / np.maximum(length, 1.0)
    # Within a short reach of each end: the most central pixels (to a pixel), and of those the farthest out.
    reach = (length - np.minimum(width, 0.15 * length))[lab]
    centrality = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[ys, xs].round()
    end_a = _region_argmax(np.where(from_b >= reach, centrality + from_b / 1e4, -1.0), lab)
    end_b = _region_argmax(np.where(from_a >= reach, centrality + from_a / 1e4, -1.0), lab)
    dx, dy = np.r_[0, xs[end_b] - xs[end_a]], np.r_[0, ys[end_b] - ys[end_a]]
    b_downstream = np.where(np.abs(dy) >= _STEEP * np.hypot(dx, dy), dy > 0, dx > 0)[1:]
    up, down = np.where(b_downstream, end_a, end_b), np.where(b_downstream, end_b, end_a)
    from_up = _geodesic_distance(inside, _pixels(inside.shape, ys[up], xs[up]))
    from_down = _geodesic_distance(inside, _pixels(inside.shape, ys[down], xs[down]))
    return from_up, from_down, np.r_[0.0, from_up[ys[down], xs[down]]], length


def _copy_into_caps(direction: np.ndarray, labels: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """The end caps are held flat, so they have no gradient: give them (and a 2-pixel seam, where one-sided
    differences are noisy) the direction of the nearest pixel of the same region beyond."""
    caps = cv2.dilate(caps.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (labels > 0)
    keep = (labels > 0) & ~caps
    if not keep.any():
        return direction
    nearest = cv2.distanceTransformWithLabels(
        np.where(keep, 0, 1).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )[1] - 1
    keep_y, keep_x = np.nonzero(keep)  # label k is the k-th kept pixel in raster order
    from_y, from_x = keep_y[nearest], keep_x[nearest]
    fill = caps & (labels[from_y, from_x] == labels)
    filled = direction.copy()
    filled[:, fill] = direction[:, from_y[fill], from_x[fill]]
    return filled


def _pixels(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    marked = np.zeros(shape, dtype=bool)
    marked[ys, xs] = True
    return marked


def _region_argmax(values: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Index (into the in-mask pixel list) of each region's largest value, regions in label order."""
    order = np.lexsort((values, lab))
    return order[np.r_[np.nonzero(np.diff(lab[order]))[0], len(order) - 1]]


def _region_axes(
    xs: np.ndarray, ys: np.ndarray, lab: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region: oriented PCA main axis (x, y-down) and whether the region is elongated enough to have one.

    Downstream is down the image (towards the viewer), or left → right for regions within 15° of
    horizontal; roundish regions get "down".
    """
    n = np.bincount(lab, minlength=count).astype(np.float64).clip(min=1)
    mx, my = np.bincount(lab, xs, count) / n, np.bincount(lab, ys, count) / n
    dx, dy = xs - mx[lab], ys - my[lab]
    cxx, cyy, cxy = (np.bincount(lab, v, count) / n for v in (dx * dx, dy * dy, dx * dy))
    phi = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
    spread = np.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    elongated = (cxx + cyy) / 2 + spread > _MIN_ELONGATION * np.maximum((cxx + cyy) / 2 - spread, 1e-9)
    ax, ay = np.where(elongated, np.cos(phi), 0.0), np.where(elongated, np.sin(phi), 1.0)
    flip = np.where(np.abs(ay) >= _STEEP, ay < 0, ax < 0)
    return np.where(flip, -ax, ax), np.where(flip, -ay, ay), elongated


def _harmonic_relaxation(to_sink: np.ndarray, labels: np.ndarray, sink: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Relax the geodesic distance to the downstream end towards a harmonic potential.

    The geodesic distance is right on the large scale (it follows bends, and every branch tip is a local
    maximum, so tributaries drain into the main channel) but cuts inside corners and carries the chamfer
    metric's 45° artefacts. Holding the downstream end at 0, the upstream end at its highest level and
    the branch tips at theirs, and relaxing the rest with no flow through the banks (Neumann), makes the
    gradient run parallel to the banks. A few hundred Jacobi sweeps suffice: only local errors are left.
    """
    inside = labels > 0
    potential = np.where(inside, to_sink, 0.0)
    neighbourhood = np.where(inside, potential, -1.0).astype(np.float32)
    peaks = inside & (potential >= cv2.dilate(neighbourhood, np.ones((5, 5), np.uint8)))
    top = np.zeros(int(labels.max()) + 1)
    np.maximum.at(top, labels[source], potential[source])
    potential[source] = top[labels[source]]
    fixed = sink | source | peaks | ~inside
    height, width = inside.shape
    weights = np.pad(inside.astype(np.float64), 1)
    shifts = [(dy, dx) for dy in (0, 1, 2) for dx in (0, 1, 2) if (dy, dx) != (1, 1)]
    count = sum(weights[dy : dy + height, dx : dx + width] for dy, dx in shifts)
    for _ in range(_HARMONIC_SWEEPS):
        padded = np.pad(potential, 1) * weights
        total = sum(padded[dy : dy + height, dx : dx + width] for dy, dx in shifts)
        potential = np.where(fixed, potential, total / np.maximum(count, 1.0))
    return potential


def _geodesic_distance(inside: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Distance from ``sources`` through ``inside`` pixels: the eikonal equation |∇d| = 1 solved by parallel
    Godunov updates (each sweep is two grey-level erosions, as many sweeps as the longest path is long).

    Unlike a chamfer metric, whose fronts are octagons (tilted by up to 22.5°), its fronts are close to
    circles, so distance gradients and end caps square up with the channel.
    """
    height, width = inside.shape
    distance = np.where(sources & inside, 0.0, np.inf).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        for _ in range(4 * (height + width)):
            across, along = cv2.erode(distance, _HORIZONTAL), cv2.erode(distance, _VERTICAL)
            gap = np.abs(across - along)
            two_sided = (across + along + np.sqrt(np.clip(2.0 - gap * gap, 0.0, None))) / 2.0
            update = np.where(gap < 1.0, two_sided, np.minimum(across, along) + 1.0)
            update = np.where(update < _UNREACHED, update, np.float32(np.inf))
            relaxed = np.where(inside, np.minimum(distance, update), np.float32(np.inf))
            if np.array_equal(relaxed, distance):
                break
            distance = relaxed
    return distance


def _masked_gradient(values: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences using only in-mask neighbours (one-sided at the border, 0 if isolated)."""
    height, width = inside.shape
    values = np.where(inside, values, 0.0)
    padded = np.pad(values, 1)
    valid = np.pad(inside, 1)

    def shifted(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
        return array[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    gradients = []
    for dy, dx in ((0, 1), (1, 0)):
        after, before = shifted(padded, dy, dx), shifted(padded, -dy, -dx)
        has_after, has_before = shifted(valid, dy, dx), shifted(valid, -dy, -dx)
        one_sided = np.where(has_after, after - values, np.where(has_before, values - before, 0.0))
        gradients.append(np.where(has_after & has_before, (after - before) / 2.0, one_sided) * inside)
    return gradients[0], gradients[1]


def _smooth_directions(direction: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Unit vectors smoothed within the region (:func:`normalised_blur`, σ 1.5 % of the longer side), so one-sided
    differences at the banks are evened out without the outside's directions bleeding in; the smoothed field also
    reaches a few pixels outside, where the upsampled flow reads it at the region's edge."""
    sigma = max(1.0, 0.015 * max(inside.shape))
    weight = torch.from_numpy(inside.astype(np.float32))[None, None]
    smooth = normalised_blur(torch.from_numpy(direction.astype(np.float32))[None], weight, sigma)[0].numpy()
    return (smooth / np.maximum(np.linalg.norm(smooth, axis=0), 1e-12)).astype(np.float32)
