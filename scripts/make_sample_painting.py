"""Generate the sample painting that the demo workflow animates (only its water moves).

Why procedural: no freely licensed painting can be shipped or downloaded, so the scene is built from smooth
fields and fractal noise, then re-painted with oriented brush strokes. Everything is seeded, so the script
rewrites byte-identical files. The water mask is written twice: as an 8-bit L image and as the PNG's alpha
channel the way ComfyUI's mask editor stores a painted mask (LoadImage's MASK = 1 - alpha, so water has alpha 0
while its RGB keeps the true colours). The motion layers of the layers workflow are one more file,
``sample_painting_layers.png``: red = the waterfall, green = the lake, blue = the sky (Load Image (as Mask) reads
each by its channel).

Regenerate: `.venv/bin/python scripts/make_sample_painting.py [--out-dir assets]`
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

WIDTH, HEIGHT = 768, 512
SEED = 1889  # the year of "The Starry Night"
SHORE_Y = 345.0
LIP_Y = 188.0
PLATEAU_Y = 164.0
SUN = (560.0, 186.0)

# Region labels: strokes never cross from one region's layer into another's, which keeps silhouettes crisp
# and makes the water mask follow the painted water edges exactly.
SKY, FAR, NEAR, CLIFF, HILL, FOLIAGE, PINE, ROCK, WATERFALL, LAKE = range(10)
WATER_LABELS = (WATERFALL, LAKE)
# Per region: default stroke angle (degrees, image y down), weight of that default against the local image
# structure, weight of a swirl field (starry-night sky), and stroke size factor.
STROKE_STYLE = {
    SKY: (0.0, 0.6, 1.4, 1.35),
    FAR: (0.0, 0.5, 0.0, 1.0),
    NEAR: (-10.0, 0.5, 0.0, 1.0),
    CLIFF: (90.0, 0.9, 0.0, 0.9),
    HILL: (80.0, 0.6, 0.0, 0.8),
    FOLIAGE: (45.0, 0.2, 1.5, 0.7),
    PINE: (20.0, 0.8, 0.0, 0.6),
    ROCK: (-30.0, 0.4, 0.0, 0.8),
    WATERFALL: (90.0, 6.0, 0.0, 0.9),
    LAKE: (0.0, 6.0, 0.0, 1.0),
}
STYLE_TABLE = np.array([STROKE_STYLE[label] for label in range(len(STROKE_STYLE))], np.float32)


def sub_rng(key: int) -> np.random.Generator:
    """One independent stream per scene element, so tweaking one element leaves the others unchanged."""
    return np.random.default_rng([SEED, key])


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float, octaves: int = 4,
                  aspect: float = 1.0) -> np.ndarray:
    """Zero-mean, unit-std value noise; `aspect` > 1 stretches features along x, < 1 along y."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    for octave in range(octaves):
        sy = max(scale / 2**octave, 1.0)
        sx = max(sy * aspect, 1.0)
        grid = rng.standard_normal((int(h / sy) + 3, int(w / sx) + 3)).astype(np.float32)
        size = (int(round(grid.shape[1] * sx)), int(round(grid.shape[0] * sy)))
        out += 0.5**octave * cv2.resize(grid, size, interpolation=cv2.INTER_CUBIC)[:h, :w]
    return (out - out.mean()) / out.std()


def ridge_line(rng: np.random.Generator, scale: float, octaves: int = 6) -> np.ndarray:
    """A 1-D fractal profile across the image width (mountain and shore outlines)."""
    return fractal_noise(rng, (1, WIDTH), scale, octaves)[0]


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def rgb(*hex_codes: str) -> np.ndarray:
    """Palette colours as float RGB in 0..1."""
    return np.array([[int(code[i:i + 2], 16) / 255.0 for i in (0, 2, 4)] for code in hex_codes], np.float32)


def gradient(t: np.ndarray, positions: list[float], colours: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour ramp evaluated at every value of `t`."""
    return np.stack([np.interp(t, positions, colours[:, c]) for c in range(3)], axis=-1).astype(np.float32)


def mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t[..., None]


class Scene:
    """The underpainting: a smooth, colourful layout of the landscape plus a label map of its regions."""

    def __init__(self) -> None:
        self.yy, self.xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        self.image = np.zeros((HEIGHT, WIDTH, 3), np.float32)
        self.labels = np.full((HEIGHT, WIDTH), SKY, np.uint8)
        self.shore = SHORE_Y + 4.0 * ridge_line(sub_rng(1), 90.0, 4)
        self.cliff_top = self._cliff_top()

    def put(self, region: np.ndarray, colour: np.ndarray, label: int) -> None:
        self.image[region] = colour[region]
        self.labels[region] = label

    def _cliff_top(self) -> np.ndarray:
        """Tall cliffs on the left, a notch whose far plateau feeds the waterfall, hills falling to the right."""
        x = self.xx[0]
        left = 135.0 + 12.0 * ridge_line(sub_rng(2), 80.0, 4)
        right = 150.0 + 0.34 * np.clip(x - 400.0, 0.0, None) + 7.0 * ridge_line(sub_rng(3), 60.0)
        notch = PLATEAU_Y + 2.0 * ridge_line(sub_rng(4), 20.0, 3)
        top = np.where(x < 330.0, left + (notch - left) * smoothstep(295.0, 330.0, x), notch)
        return np.where(x < 398.0, top, notch + (right - notch) * smoothstep(398.0, 412.0, x))

    def paint_sky(self) -> None:
        """Dusk gradient, a low sun and clouds lit from below."""
        yy, xx = self.yy, self.xx
        stops = rgb("141a4f", "2d2a78", "6a3c8c", "c4507e", "f08a4c", "ffc96a")
        sky = gradient(yy / 290.0, [0.0, 0.22, 0.45, 0.68, 0.86, 1.0], stops)
        dist = np.hypot(xx - SUN[0], (yy - SUN[1]) * 1.3)
        sky += np.exp(-dist / 70.0)[..., None] * rgb("ffb050")[0] * 0.75
        clouds = fractal_noise(sub_rng(10), (HEIGHT, WIDTH), 48.0, 5, aspect=3.2)
        band = np.exp(-(((yy - 120.0) / 62.0) ** 2))
        density = smoothstep(0.15, 0.95, clouds + 1.1 * band - 0.75)
        below = np.roll(density, -7, axis=0)
        underside = np.clip(0.45 + 2.2 * (density - below), 0.0, 1.0)
        near_sun = np.exp(-dist / 170.0)
        shadow, lit, hot = rgb("4b2f6e", "f0707a", "ffd27a")
        cloud_rgb = mix(mix(shadow, lit, underside), hot, near_sun * underside)
        sky = mix(sky, cloud_rgb, 0.85 * density)
        sky = mix(sky, rgb("fff4d6")[0], smoothstep(22.0, 16.0, dist))
        self.image[:] = sky

    def paint_mountains(self) -> None:
        """Two hazy ranges on the horizon, rim-lit where they face the sun."""
        yy = self.yy
        for key, base, amp, label, colours in (
            (20, 222.0, 26.0, FAR, rgb("c98aa8", "8e6aa6")),
            (21, 258.0, 18.0, NEAR, rgb("7a5a9c", "3f3a78")),
        ):
            crest = base + amp * ridge_line(sub_rng(key), 110.0)
            depth = np.clip((yy - crest) / 60.0, 0.0, 1.0)
            body = gradient(depth, [0.0, 1.0], colours)
            texture = fractal_noise(sub_rng(key + 10), (HEIGHT, WIDTH), 20.0, 4, aspect=0.6)
            body *= (1.0 + 0.06 * texture)[..., None]
            body = mix(body, rgb("ffb070")[0], 0.55 * np.exp(-(yy - crest) / 5.0)
                       * np.exp(-np.abs(self.xx - SUN[0]) / 260.0))
            self.put(yy >= crest, body, label)

    def paint_cliffs(self) -> None:
        """Sunlit sandstone walls around the waterfall; forested hills (dark, backlit) further right."""
        yy, xx = self.yy, self.xx
        land = (yy >= self.cliff_top) & (yy < self.shore + 2.0)
        strata = fractal_noise(sub_rng(30), (HEIGHT, WIDTH), 60.0, 5, aspect=0.22)
        wobble = fractal_noise(sub_rng(31), (HEIGHT, WIDTH), 40.0, 3)
        ledges = smoothstep(0.55, 0.95, np.sin(yy * 0.075 + 2.2 * wobble))
        toward_fall = smoothstep(120.0, 335.0, xx) * (xx < 360.0) + 0.35 * (xx >= 360.0)
        boulders = fractal_noise(sub_rng(35), (HEIGHT, WIDTH), 16.0, 3)
        rock_light = np.clip(0.22 + 0.1 * strata + 0.1 * boulders + 0.22 * ledges + 0.45 * toward_fall, 0.0, 1.0)
        rock = gradient(rock_light, [0.0, 0.3, 0.55, 0.8, 1.0], rgb("2e2458", "6a3c74", "b85a5c", "e88a4a", "ffcf7a"))
        moss = smoothstep(0.9, 1.6, fractal_noise(sub_rng(32), (HEIGHT, WIDTH), 14.0, 4)) * ledges
        rock = mix(rock, rgb("6a8a46")[0], 0.5 * moss)
        rim = np.exp(-(yy - self.cliff_top) / 5.0)
        rock = mix(rock, rgb("ffb868")[0], 0.75 * rim)
        gorge_edge = 404.0 + 0.45 * (yy - self.cliff_top) + 6.0 * wobble
        rock_wall = (xx < 330.0) | ((xx < gorge_edge) & (xx > 380.0))
        self.put(land & rock_wall, rock, CLIFF)

        forest = fractal_noise(sub_rng(33), (HEIGHT, WIDTH), 7.0, 3, aspect=0.5)
        broad = fractal_noise(sub_rng(34), (HEIGHT, WIDTH), 45.0, 3)
        rim = np.exp(-(yy - self.cliff_top) / (4.0 + 8.0 * smoothstep(380.0, 440.0, xx)))
        hill_light = np.clip(0.35 + 0.18 * forest + 0.15 * broad + 0.4 * rim, 0.0, 1.0)
        hill = gradient(hill_light, [0.0, 0.45, 0.75, 1.0], rgb("122838", "2c5650", "7a6a5a", "ffa860"))
        self.put(land & ~rock_wall, hill, HILL)

    def paint_waterfall(self) -> None:
        """Vertical streaks so that falling motion shows; brighter at the crest, misty at the foot."""
        yy, xx = self.yy, self.xx
        wobble = fractal_noise(sub_rng(40), (HEIGHT, WIDTH), 30.0, 3)
        left = 337.0 - 0.16 * (yy - LIP_Y) + 2.5 * wobble
        right = 391.0 + 0.14 * (yy - LIP_Y) + 2.5 * wobble
        across = np.clip((xx - left) / np.maximum(right - left, 1.0), 0.0, 1.0)
        crest = LIP_Y - 2.0 - 6.0 * (1.0 - (2.0 * across - 1.0) ** 2)  # water bulging over the lip
        fall = (xx > left) & (xx < right) & (yy > crest) & (yy < self.shore + 2.0)
        streaks = fractal_noise(sub_rng(41), (HEIGHT, WIDTH), 90.0, 5, aspect=0.05)
        light = 0.5 + 0.22 * streaks + 0.25 * smoothstep(LIP_Y + 12.0, LIP_Y - 4.0, yy) - 0.25 * (2 * across - 1) ** 4
        water = gradient(np.clip(light, 0.0, 1.0), [0.0, 0.4, 0.7, 1.0], rgb("1f5a78", "3f9ab0", "a8e4ee", "ffffff"))
        water = mix(water, rgb("ffb080")[0], 0.35 * smoothstep(0.6, 1.0, across))
        mist = smoothstep(LIP_Y + 100.0, self.shore, yy)
        water = mix(water, rgb("e8f6ff")[0], 0.6 * mist)
        self.put(fall, water, WATERFALL)

    def paint_lake(self) -> None:
        """A rippled mirror of the scene above, with sun glitter and foam: texture that shows when it moves."""
        yy, xx = self.yy, self.xx
        mirror_y = 2.0 * self.shore[None, :] - yy
        ripple = fractal_noise(sub_rng(50), (HEIGHT, WIDTH), 5.0, 3, aspect=9.0)
        ripple_far = fractal_noise(sub_rng(51), (HEIGHT, WIDTH), 2.5, 2, aspect=12.0)
        closeness = smoothstep(SHORE_Y, HEIGHT, yy)
        waves = (1.0 - closeness) * ripple_far + closeness * ripple
        map_x = xx + (2.0 + 6.0 * closeness) * waves
        map_y = np.clip(mirror_y + 2.0 * waves, 0.0, HEIGHT - 1.0)
        reflection = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        deep = rgb("1d3f7a")[0]
        lake = mix(reflection * 0.9, deep, 0.2 + 0.25 * closeness)
        lake *= (1.0 + 0.12 * waves)[..., None]
        sky_sheen = gradient(closeness, [0.0, 1.0], rgb("f08a6a", "8a5aa8"))
        lake = mix(lake, sky_sheen, 0.55 * smoothstep(0.3, 1.6, waves))
        glitter_width = 8.0 + 55.0 * closeness
        glitter = np.exp(-(((xx - SUN[0]) / glitter_width) ** 2)) * smoothstep(0.2, 1.2, waves)
        lake = mix(lake, rgb("ffd070")[0], 0.9 * glitter)
        sparkle = smoothstep(1.4, 2.3, ripple_far) * (1.0 - closeness) + smoothstep(1.6, 2.6, ripple) * closeness
        lake = mix(lake, rgb("f8a0b8")[0], 0.6 * sparkle)
        foam_dist = np.hypot((xx - 364.0) / 78.0, (yy - self.shore - 6.0) / 20.0)
        foam_noise = fractal_noise(sub_rng(52), (HEIGHT, WIDTH), 10.0, 4)
        foam = smoothstep(1.0, 0.35, foam_dist + 0.22 * foam_noise)
        lake = mix(lake, rgb("f4fbff")[0], 0.9 * foam)
        self.put(yy >= self.shore, lake, LAKE)

    def paint_bank_and_rocks(self) -> None:
        """Foreground rocks and the right bank: still areas inside the lake, so the mask is not a plain band."""
        yy, xx = self.yy, self.xx
        outline = fractal_noise(sub_rng(60), (HEIGHT, WIDTH), 25.0, 4)
        shade = fractal_noise(sub_rng(61), (HEIGHT, WIDTH), 12.0, 4)
        light_dir = np.clip(0.45 + 0.25 * shade, 0.0, 1.0)
        rock_rgb = rgb("2a2050", "6a3a70", "c86a5a", "ffb070")
        for cx, cy, rx, ry in ((40.0, 500.0, 120.0, 62.0), (190.0, 512.0, 70.0, 34.0), (700.0, 470.0, 40.0, 20.0)):
            dist = np.hypot((xx - cx) / rx, (yy - cy) / ry) + 0.12 * outline
            lit = light_dir + 0.45 * np.clip(((xx - cx) / rx - (yy - cy) / ry) * 0.6, -0.5, 0.5)
            self.put(dist < 1.0, gradient(np.clip(lit, 0.0, 1.0), [0.0, 0.35, 0.7, 1.0], rock_rgb), ROCK)
        bank_edge = 705.0 - 0.35 * (yy - SHORE_Y) + 10.0 * outline
        grass = gradient(np.clip(0.4 + 0.3 * shade, 0.0, 1.0), [0.0, 0.6, 1.0], rgb("1a3a3a", "3f6a48", "d8a050"))
        self.put((xx > bank_edge) & (yy > self.shore - 6.0), grass, HILL)

    def paint_foliage(self) -> None:
        """Autumn crowns on the left cliff top and bushes along its foot, in warm Afremov-like colours."""
        yy, xx = self.yy, self.xx
        rng = sub_rng(70)
        texture = fractal_noise(sub_rng(71), (HEIGHT, WIDTH), 9.0, 4)
        autumn = rgb("5a1838", "c0302a", "f07a28", "ffc84a", "fff0a0")
        bush = rgb("1a2038", "3a4456", "7a6a40", "e09048", "ffd888")
        trunk_colour = np.broadcast_to(rgb("2a1630")[0], self.image.shape)
        for cx, rx, height in ((30.0, 54.0, 70.0), (124.0, 44.0, 64.0), (210.0, 50.0, 58.0), (281.0, 26.0, 30.0)):
            base_y = float(self.cliff_top[int(cx)])
            cy = base_y - height
            trunk = (np.abs(xx - cx - 0.15 * (yy - base_y)) < 3.5) & (yy > cy) & (yy < base_y + 6.0)
            self.put(trunk, trunk_colour, FOLIAGE)
            self._crown(cx, cy, rx, rx * rng.uniform(0.7, 0.85), autumn, texture)
        for cx, rx in ((22.0, 40.0), (88.0, 26.0), (150.0, 34.0), (205.0, 20.0), (262.0, 30.0)):
            ry = rx * rng.uniform(0.55, 0.7)
            self._crown(cx, float(self.shore[int(cx)]) - 0.45 * ry, rx, ry, bush, texture)

    def _crown(self, cx: float, cy: float, rx: float, ry: float, palette: np.ndarray, texture: np.ndarray) -> None:
        """A ragged elliptic mass of leaves, lit from the sun's side (upper right)."""
        dx, dy = (self.xx - cx) / rx, (self.yy - cy) / ry
        lit = 0.45 + 0.2 * texture + 0.4 * np.clip(dx - dy, -1.0, 1.0)
        crown = gradient(np.clip(lit, 0.0, 1.0), [0.0, 0.25, 0.55, 0.8, 1.0], palette)
        self.put(np.hypot(dx, dy) + 0.18 * texture < 1.0, crown, FOLIAGE)

    def paint_pines(self) -> None:
        """Dark pines on the right edge: they frame the view and are lit only along their sun-facing rims."""
        yy, xx = self.yy, self.xx
        jag = fractal_noise(sub_rng(80), (HEIGHT, WIDTH), 6.0, 3)
        for cx, top, spread in ((712.0, 70.0, 0.30), (752.0, 20.0, 0.34)):
            tier = (yy - top) % 34.0 / 34.0
            half = np.clip(yy - top, 0.0, None) * spread * (0.55 + 0.45 * tier) + 3.0 * jag
            offset = xx - cx
            tree = (np.abs(offset) < half) & (yy > top)
            rim = smoothstep(-0.5, -0.95, offset / np.maximum(half, 1.0))
            light = np.clip(0.25 + 0.15 * jag + 0.7 * rim, 0.0, 1.0)
            colour = gradient(light, [0.0, 0.5, 1.0], rgb("0c2230", "285048", "ff9a50"))
            self.put(tree, colour, PINE)

    def build(self) -> None:
        self.paint_sky()
        self.paint_mountains()
        self.paint_cliffs()
        self.paint_waterfall()
        self.paint_lake()
        self.paint_bank_and_rocks()
        self.paint_foliage()
        self.paint_pines()


def stroke_orientation(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Stroke angle per pixel (degrees), blending each region's default direction with the local structure.

    Orientations are averaged as doubled-angle vectors, since a stroke at 10 deg equals one at 190 deg.
    """
    lum = cv2.GaussianBlur(image.mean(axis=2), (0, 0), 2.0)
    gx, gy = cv2.Sobel(lum, cv2.CV_32F, 1, 0), cv2.Sobel(lum, cv2.CV_32F, 0, 1)
    jxx, jxy, jyy = (cv2.GaussianBlur(v, (0, 0), 5.0) for v in (gx * gx, gx * gy, gy * gy))
    norm = jxx + jyy + 1e-6
    structure = np.stack([-(jxx - jyy) / norm, -2.0 * jxy / norm])  # along the isophotes
    swirl_field = cv2.GaussianBlur(fractal_noise(sub_rng(90), (HEIGHT, WIDTH), 70.0, 2), (0, 0), 4.0)
    sx, sy = cv2.Sobel(swirl_field, cv2.CV_32F, 1, 0), cv2.Sobel(swirl_field, cv2.CV_32F, 0, 1)
    swirl_angle = np.arctan2(sx, -sy)  # tangent to the noise contours: curling, starry-night strokes
    swirl = np.stack([np.cos(2 * swirl_angle), np.sin(2 * swirl_angle)])
    style = STYLE_TABLE[labels]
    default_angle = np.deg2rad(style[..., 0])
    vec = structure + style[..., 1] * np.stack([np.cos(2 * default_angle), np.sin(2 * default_angle)])
    vec += style[..., 2] * swirl
    return np.rad2deg(0.5 * np.arctan2(vec[1], vec[0]))


def brush_pass(layers: np.ndarray, labels: np.ndarray, colours: np.ndarray, angles: np.ndarray,
               rng: np.random.Generator, spacing: float, length: float, width: float,
               where: np.ndarray | None = None) -> None:
    """Dab one coat of elongated strokes onto the layer of the region each stroke starts in."""
    shift = 4  # sub-pixel precision for cv2 drawing
    gy, gx = np.mgrid[0:HEIGHT:spacing, 0:WIDTH:spacing]
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(0.0, spacing, (gx.size, 2))
    pts = np.clip(pts, 0.0, [WIDTH - 1.0, HEIGHT - 1.0])
    xi, yi = pts[:, 0].astype(np.int64), pts[:, 1].astype(np.int64)
    if where is not None:
        keep = where[yi, xi]
        pts, xi, yi = pts[keep], xi[keep], yi[keep]
    count = len(pts)
    region = labels[yi, xi]
    size = STYLE_TABLE[region, 3]
    tint = colours[yi, xi] * rng.uniform(0.9, 1.1, (count, 1)) + rng.normal(0.0, 0.035, (count, 3))
    tint = np.clip(tint * 255.0, 0, 255).round().astype(np.int64)
    angle = angles[yi, xi] + rng.normal(0.0, 7.0, count)
    half_len = length * size * rng.uniform(0.7, 1.3, count) * 2**shift
    half_wid = width * size * rng.uniform(0.7, 1.2, count) * 2**shift
    centre = (pts * 2**shift).round().astype(np.int64)
    for i in rng.permutation(count):
        cv2.ellipse(layers[region[i]], (int(centre[i, 0]), int(centre[i, 1])),
                    (max(int(half_len[i]), 1), max(int(half_wid[i]), 1)), float(angle[i]), 0.0, 360.0,
                    tuple(int(c) for c in tint[i]), -1, cv2.LINE_AA, shift)


def clean_mask(region: np.ndarray) -> np.ndarray:
    """A region as one clean mask: no specks, no pinholes (morphological open then close)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    region = region.astype(np.uint8)
    return cv2.morphologyEx(cv2.morphologyEx(region, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel).astype(bool)


def clean_water_mask(labels: np.ndarray) -> np.ndarray:
    """All the water (waterfall and lake) as one clean region."""
    return clean_mask(np.isin(labels, WATER_LABELS))


def layer_masks(labels: np.ndarray, water: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8: the waterfall, the lake (the rest of the water) and the sky, one per channel."""
    waterfall = water & clean_mask(labels == WATERFALL)
    return np.dstack([waterfall, water & ~waterfall, clean_mask(labels == SKY)]).astype(np.uint8) * 255


def paint(scene: Scene, water: np.ndarray) -> np.ndarray:
    """Re-paint the underpainting with coats of strokes, coarse to fine, each region on its own layer."""
    labels = scene.labels.copy()
    labels[water & ~np.isin(labels, WATER_LABELS)] = LAKE
    labels[~water & np.isin(labels, WATER_LABELS)] = ROCK
    colours = cv2.GaussianBlur(scene.image, (0, 0), 1.2)
    angles = stroke_orientation(scene.image, labels)
    under = np.clip(cv2.GaussianBlur(scene.image, (0, 0), 2.0) * 255.0, 0, 255).round().astype(np.uint8)
    layers = np.repeat(under[None], len(STROKE_STYLE), axis=0)
    rng = sub_rng(100)
    brush_pass(layers, labels, colours, angles, rng, spacing=5.0, length=11.0, width=3.2)
    brush_pass(layers, labels, colours, angles, rng, spacing=3.5, length=7.0, width=2.2)
    edges = cv2.Canny((colours * 255).astype(np.uint8), 30, 90)
    detail = cv2.dilate(edges, np.ones((5, 5), np.uint8)) > 0
    brush_pass(layers, labels, scene.image, angles, rng, spacing=2.0, length=4.0, width=1.3, where=detail)
    painted = np.take_along_axis(layers, labels[None, ..., None], axis=0)[0]
    return finish(painted)


def finish(painted: np.ndarray) -> np.ndarray:
    """Richer colour and a faint impasto relief, lit from the top left."""
    hsv = cv2.cvtColor(painted, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.12, 0, 255)
    out = cv2.cvtColor(hsv.round().astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    height = cv2.GaussianBlur(out.mean(axis=2), (0, 0), 0.8)
    relief = cv2.Sobel(height, cv2.CV_32F, 1, 0) + cv2.Sobel(height, cv2.CV_32F, 0, 1)
    out *= (1.0 - 0.0025 * np.clip(relief, -40.0, 40.0))[..., None]
    return np.clip(out, 0, 255).round().astype(np.uint8)


def add_stars(image: np.ndarray, labels: np.ndarray) -> None:
    """A few glowing stars in the dark upper sky, drawn over the strokes."""
    rng = sub_rng(110)
    glow = np.zeros(image.shape[:2], np.float32)
    for x, y in zip(rng.uniform(0, WIDTH, 60), rng.uniform(0, 95, 60), strict=True):
        cv2.circle(glow, (int(x * 16), int(y * 16)), int(rng.uniform(1.0, 2.2) * 16), 1.0, -1, cv2.LINE_AA, 4)
    glow = glow + 1.5 * cv2.GaussianBlur(glow, (0, 0), 3.0)
    glow *= labels == SKY
    star = np.array([255.0, 246.0, 200.0], np.float32)
    blended = image + (star - image) * np.clip(glow, 0.0, 1.0)[..., None]
    image[:] = blended.round().astype(np.uint8)


def write_outputs(image: np.ndarray, water: np.ndarray, layers: np.ndarray, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(layers, "RGB").save(out_dir / "sample_painting_layers.png", optimize=True)
    mask = water.astype(np.uint8) * 255
    rgba = np.dstack([image, 255 - mask])
    Image.fromarray(rgba, "RGBA").save(out_dir / "sample_painting.png", optimize=True)
    Image.fromarray(mask, "L").save(out_dir / "sample_painting_mask.png", optimize=True)
    reloaded = np.asarray(Image.open(out_dir / "sample_painting.png"))
    if not np.array_equal(reloaded[..., :3], image) or not np.array_equal(reloaded[..., 3], 255 - mask):
        raise RuntimeError("sample_painting.png did not round-trip: RGB under alpha 0 must be kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent.parent / "assets")
    args = parser.parse_args()
    scene = Scene()
    scene.build()
    water = clean_water_mask(scene.labels)
    image = paint(scene, water)
    add_stars(image, scene.labels)
    write_outputs(image, water, layer_masks(scene.labels, water), args.out_dir)
    print(f"wrote {args.out_dir}: {WIDTH}x{HEIGHT}, water covers {100.0 * water.mean():.1f}% of the image")


if __name__ == "__main__":
    main()
