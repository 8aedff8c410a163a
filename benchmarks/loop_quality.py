"""Loop quality of the pixel engines on real pictures: does a loop keep the still's detail?

Run: ``.venv/bin/python benchmarks/loop_quality.py`` (``--quick`` for a small smoke run,
``--sheet DIR`` to write contact sheets of mid-loop frames, ``--scenes a,b`` to pick scenes, ``--seeds 0,1,2,3`` to
run each scene with several stagger seeds and print the worst figure over them and its spread).

Each scene (:data:`SCENES`: the bundled sample painting and six real photographs/illustrations in
``benchmarks/scenes/``, licences in its README) has a region painted here as a polygon and a motion given
as text or drawn arrows, turned into a flow by the learning-free flow engine exactly as Text Flow does.
Every engine renders the same loop; printed per scene and engine, all measured in one run:

* contrast — min over frames of std(high-pass(frame)) ÷ std(high-pass(frame 0)) in the region's core
  (grayscale minus a Gaussian blur with σ = 2 px; core = region eroded by 6 px). A cross-fade of two
  unrelated textures falls towards 0.71, bilinear blur further.
* coherence — per frame, the median over 16×16 patches inside the core (stride 16, flat patches skipped)
  of the best normalised cross-correlation (OpenCV TM_CCOEFF_NORMED) against the still within ±48 px;
  the min over frames. A double exposure is found nowhere in the still.
* pop — max over the N steps (the wrap N−1 → 0 included) of the 99th-percentile per-pixel change in the
  region, ÷ its median over steps. Sudden transitions stand out.
* seam — mean change across the wrap ÷ the median mean change of the other steps (1 = invisible).
* line — does the border between a region and the still pixels show as a line? Mean over frames of the mean
  |high-pass| (σ = 1 px) within 2 px of that border ÷ the same 6–12 px from it, relative to that ratio in the
  still: 1 = the border looks as it does in the still, above 1 a line shows (moving texture meeting still texture
  edge-on), below 1 a soft strip. Only borders with still pixels count (not the picture's edge, not other layers).
* bias — does a layer drift in brightness where it comes out from behind (or goes behind) a still part: a darker
  or brighter strip there, the still part's outline showing as a brightness step? The gray change from the still,
  averaged over the loop, smoothed (normalised Gaussian, σ = 16 px) within the region's pixels at most 20 px from a
  still pixel whose flow crosses that border (|cos| to its normal > 0.5; along a border the loop's mean is the
  texture moving past, not a drift); the value of largest magnitude, signed, in thousandths of full scale.
* static — every pixel farther than max|v| + 2 px from moving content equals the input in every frame;
  frame0 — frame 0 equals the input.
* ms/frame and ÷splat — time per frame ÷ one bare 4-channel full-frame splat at the scene's size.

Targets (issue: loops that keep their detail): contrast ≥ 0.90, coherence ≥ 0.85, pop ≤ 1.5,
seam ≤ 1.2, static and frame 0 exact.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.flow import engine as flow_engine  # noqa: E402
from models.flow.borders import shape_border  # noqa: E402
from models.flow.layers import FlowLayer, FlowStack  # noqa: E402
from models.loop.pixel_animator import render_loop as classic_loop  # noqa: E402
from models.loop.sharp_loop import render_sharp_loop  # noqa: E402
from models.loop.splatting import softsplat  # noqa: E402

SCENE_DIR = Path(__file__).resolve().parent / "scenes"
CORE_EROSION_PX = 6
PATCH, SEARCH_PX, FLAT_STD = 16, 48, 0.01
LINE_RIM_PX, LINE_RING_PX = 2.0, (6.0, 12.0)
BIAS_BAND_PX, BIAS_SIGMA_PX, BIAS_CROSSING = 20.0, 16.0, 0.5


@dataclass(frozen=True)
class Layer:
    """One motion layer of a scene: its region (polygon minus holes, fractions of width/height, or a mask file), its
    motion (text and drawn arrows, as Text Flow takes them), its border and its cycles (None = auto)."""

    text: str
    polygon: tuple[tuple[float, float], ...] = ()
    arrows: str = ""
    holes: tuple[tuple[tuple[float, float], ...], ...] = ()
    border: str = "auto"
    cycles: int | None = None
    mask: Path | None = None


@dataclass(frozen=True)
class Scene:
    """A picture, its moving region (polygon in fractions of width/height, or a mask file) and its motion; or its
    motion layers (``layers``, bottom first). ``focus``: a polygon that cuts the measured region (the band before a
    border)."""

    name: str
    image: Path
    text: str = ""
    polygon: tuple[tuple[float, float], ...] = ()
    mask: Path | None = None
    arrows: str = ""
    holes: tuple[tuple[tuple[float, float], ...], ...] = ()
    layers: tuple[Layer, ...] = ()
    focus: tuple[tuple[float, float], ...] = ()


SCENES = (
    Scene("sample_painting", ROOT / "assets" / "sample_painting.png", "a waterfall falling into a lake",
          mask=ROOT / "assets" / "sample_painting_mask.png",
          arrows='[[0.47, 0.36, 0.47, 0.62], [0.44, 0.45, 0.44, 0.65], [0.5, 0.45, 0.5, 0.65], '
                 '[0.47, 0.72, 0.47, 0.8], [0.3, 0.76, 0.24, 0.82], [0.65, 0.76, 0.71, 0.82], '
                 '[0.15, 0.8, 0.1, 0.85]]'),
    Scene("altai_lake", SCENE_DIR / "altai_lake.jpg", "a mirror lake, water flowing to the left",
          polygon=((0, 0.69), (1, 0.69), (1, 1), (0, 1))),
    # One long and one short arrow: the speed falls off from left to right along a thin lake.
    Scene("by_the_water", SCENE_DIR / "by_the_water.jpg", "a lake glittering in the sun",
          polygon=((0, 0.27), (1, 0.27), (1, 0.355), (0, 0.455)),
          arrows="[[0.08, 0.33, 0.3, 0.33], [0.7, 0.31, 0.76, 0.31]]"),
    Scene("cold_ripple", SCENE_DIR / "cold_ripple.jpg", "mist drifting to the right over a grey lake",
          polygon=((0, 0), (1, 0), (1, 0.5), (0, 0.5)),
          holes=(((0.44, 0.38), (0.53, 0.38), (0.53, 0.5), (0.44, 0.5)),)),
    # Two arrows of different length: clouds drift right, faster at the top left.
    Scene("kite_sky", SCENE_DIR / "kite_sky.jpg", "clouds drifting across the sky",
          polygon=((0, 0), (1, 0), (1, 1), (0, 1)),
          holes=(((0.6, 0.27), (0.76, 0.27), (0.76, 0.46), (0.6, 0.46)),),
          arrows="[[0.05, 0.25, 0.2, 0.22], [0.55, 0.8, 0.62, 0.8]]"),
    Scene("storm_clouds", SCENE_DIR / "storm_clouds.jpg", "storm clouds drifting to the left",
          polygon=((0, 0), (1, 0), (1, 0.57), (0, 0.57))),
    Scene("volna_waves", SCENE_DIR / "volna_waves.jpg", "surf rolling onto the beach, waves to the bottom left",
          polygon=((0.27, 0), (1, 0), (1, 1), (0.87, 1), (0.77, 0.86), (0.6, 0.74), (0.52, 0.63), (0.43, 0.5),
                   (0.36, 0.37), (0.3, 0.2))),
    # Motion layers (issue 19). A 48-px band of the lake (at 512 px wide, below the glittering shore line) moved
    # left by one drawn arrow: with the speed faded to zero at its shores it shears into streaks.
    Scene("thin_band", SCENE_DIR / "by_the_water.jpg", layers=(
        Layer("a lake", ((0, 0.26), (0.5, 0.26), (0.5, 0.41), (0, 0.41)), arrows="[[0.4, 0.335, 0.25, 0.335]]"),)),
    # Clouds drifting left into a still block standing in the sky; measured in the 40 px before its right side.
    Scene("into_still", SCENE_DIR / "storm_clouds.jpg", layers=(
        Layer("storm clouds drifting to the left", ((0, 0), (1, 0), (1, 0.57), (0, 0.57)),
              holes=(((0.2, 0.2), (0.35, 0.2), (0.35, 0.57), (0.2, 0.57)),)),),
          focus=((0.35, 0.2), (0.35 + 40 / 512, 0.2), (0.35 + 40 / 512, 0.57), (0.35, 0.57))),
    # A band of open water whose every border runs through the reflections (the issue's 48-px strip of a sunset
    # lake, moved left by one drawn arrow): moving texture meets still texture of the same kind all round.
    Scene("altai_strip", SCENE_DIR / "altai_lake.jpg", layers=(
        Layer("a mirror lake", ((0, 0.76), (0.7, 0.76), (0.7, 0.927), (0, 0.927)),
              arrows="[[0.5, 0.84, 0.35, 0.84]]"),)),
    # A border that follows a real edge, as a real cinemagraph region does: the sky down to the treeline, its mask
    # traced from the picture (every pixel above the first dark one in its column); where the vignette darkens the
    # sky at the left and right, the border cuts through sky. Clouds drift right.
    Scene("treeline_sky", SCENE_DIR / "by_the_water.jpg", layers=(
        Layer("clouds drifting to the right", mask=SCENE_DIR / "by_the_water_sky.png"),)),
    # Sky and water of one picture in opposite directions and different periods (the tree stays still).
    Scene("sky_and_water", SCENE_DIR / "by_the_water.jpg", layers=(
        Layer("water flowing to the left", ((0, 0.27), (1, 0.27), (1, 0.355), (0, 0.455)), cycles=1),
        Layer("clouds drifting to the right", ((0, 0), (1, 0), (1, 0.16), (0, 0.16)),
              holes=(((0.88, 0), (1, 0), (1, 0.16), (0.88, 0.16)),), cycles=2))),
)


def load_scene(scene: Scene, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image [1, 3, H, W] in [0, 1] scaled to ``width`` and its region mask [1, 1, H, W] (0/1; a layered scene's
    masks [L, 1, H, W], bottom first)."""
    picture = Image.open(scene.image).convert("RGB")
    height = round(picture.height * width / picture.width)
    rgb = np.asarray(picture.resize((width, height), Image.LANCZOS), dtype=np.float32) / 255.0
    if scene.layers:
        mask = np.stack([_region(layer, height, width) for layer in scene.layers])
    else:
        mask = _region(scene, height, width)[None]
    image = torch.from_numpy(rgb.copy()).permute(2, 0, 1).unsqueeze(0)
    return image, torch.from_numpy(mask)[:, None]


def _region(spec: Scene | Layer, height: int, width: int) -> np.ndarray:
    """[H, W] 0/1: the scene's or layer's mask file if it has one, else its polygon minus its holes."""
    if spec.mask is None:
        return _polygon_mask(spec.polygon, spec.holes, height, width)
    region = Image.open(spec.mask).convert("L").resize((width, height), Image.BILINEAR)
    return (np.asarray(region, dtype=np.float32) / 255.0 > 0.5).astype(np.float32)


def _polygon_mask(polygon, holes, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.float32)
    scale = np.array([width, height])
    cv2.fillPoly(mask, [np.round(np.array(polygon) * scale).astype(np.int32)], 1.0)
    for hole in holes:
        cv2.fillPoly(mask, [np.round(np.array(hole) * scale).astype(np.int32)], 0.0)
    return mask


def scene_flow(scene: Scene, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The flow Text Flow's learning-free engine makes for this scene (default strength, seed 0)."""
    return flow_engine.flow_from_text(image, mask, scene.text, hints=scene.arrows or None).flow


def scene_stack(scene: Scene, image: torch.Tensor, masks: torch.Tensor, border: str | None = None) -> FlowStack:
    """The stack chained Text Flow nodes make for this scene: each layer's motion without a border fade, shaped for
    its border (``border`` overrides every layer's: ``stick`` is the flow before motion layers)."""
    specs = scene.layers or (Layer(scene.text, scene.polygon, scene.arrows, scene.holes),)
    layers = []
    for index, (spec, mask) in enumerate(zip(specs, masks, strict=True)):
        raw = flow_engine.flow_from_text(image, mask[None], spec.text, hints=spec.arrows or None,
                                         border_fade=False).flow
        shaped = shape_border(raw, mask[None], border or spec.border)
        layers.append(FlowLayer(flow=shaped.flow, mask=mask[None], border=shaped.border,
                                cycles=None if border else spec.cycles, label=f"layer {index + 1}"))
        if shaped.note:
            print(f"  {scene.name} layer {index + 1}: {shaped.note}")
    return FlowStack(tuple(layers))


# --- metrics ---------------------------------------------------------------------------------------


def _gray(frame: np.ndarray) -> np.ndarray:
    return (frame @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def _high_pass(gray: np.ndarray) -> np.ndarray:
    return gray - cv2.GaussianBlur(gray, (0, 0), 2.0)


def core_of(mask: np.ndarray) -> np.ndarray:
    """The region eroded by CORE_EROSION_PX (a disk), as bool [H, W]."""
    size = 2 * CORE_EROSION_PX + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.erode(mask.astype(np.uint8), disk, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0


def contrast(frames: np.ndarray, core: np.ndarray) -> float:
    still = _high_pass(_gray(frames[0]))[core].std()
    return min(float(_high_pass(_gray(f))[core].std() / still) for f in frames)


def coherence(frames: np.ndarray, core: np.ndarray) -> float:
    """Min over frames of the median best NCC of the frame's core patches against the still (nan: no patch)."""
    still = _gray(frames[0])
    height, width = core.shape
    patches = [
        (y, x) for y in range(0, height - PATCH + 1, PATCH) for x in range(0, width - PATCH + 1, PATCH)
        if core[y:y + PATCH, x:x + PATCH].all()
    ]
    worst = math.inf
    for frame in frames[1:]:
        gray, scores = _gray(frame), []
        for y, x in patches:
            patch = gray[y:y + PATCH, x:x + PATCH]
            if patch.std() < FLAT_STD:
                continue
            top, left = max(0, y - SEARCH_PX), max(0, x - SEARCH_PX)
            window = still[top:min(height, y + PATCH + SEARCH_PX), left:min(width, x + PATCH + SEARCH_PX)]
            scores.append(float(cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED).max()))
        if scores:
            worst = min(worst, float(np.median(scores)))
    return worst if math.isfinite(worst) else float("nan")


def line(frames: np.ndarray, region: np.ndarray, still: np.ndarray) -> float:
    """How much the border between ``region`` and ``still`` [H, W] bool stands out (module docstring; nan: none)."""
    from_still = cv2.distanceTransform((~still).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    from_region = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    depth = np.where(region, from_still, np.where(still, from_region, np.inf))
    rim, ring = depth <= LINE_RIM_PX, (depth >= LINE_RING_PX[0]) & (depth <= LINE_RING_PX[1])
    if not rim.any() or not ring.any():
        return float("nan")

    def standing_out(frame: np.ndarray) -> float:
        detail = np.abs(_gray(frame) - cv2.GaussianBlur(_gray(frame), (0, 0), 1.0))
        return float(detail[rim].mean() / max(detail[ring].mean(), 1e-12))

    return float(np.mean([standing_out(f) for f in frames[1:]]) / max(standing_out(frames[0]), 1e-12))


def bias(frames: np.ndarray, region: np.ndarray, still: np.ndarray, flow: np.ndarray) -> float:
    """Signed worst loop-mean brightness drift where ``flow`` [2, H, W] crosses the border of ``region`` with
    ``still`` [H, W] bool (module docstring; nan: no such pixel)."""
    depth = cv2.distanceTransform((~still).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    normal = np.stack(np.gradient(depth)[::-1])
    cosine = np.abs((flow * normal).sum(axis=0)) / np.maximum(
        np.linalg.norm(flow, axis=0) * np.linalg.norm(normal, axis=0), 1e-12)
    band = (region & (depth <= BIAS_BAND_PX) & (cosine > BIAS_CROSSING)).astype(np.float32)
    if not band.any():
        return float("nan")
    drift = np.mean([_gray(f) for f in frames], axis=0) - _gray(frames[0])
    smooth = cv2.GaussianBlur(drift * band, (0, 0), BIAS_SIGMA_PX) / np.maximum(
        cv2.GaussianBlur(band, (0, 0), BIAS_SIGMA_PX), 1e-6)
    values = smooth[band > 0]
    return float(values[np.abs(values).argmax()] * 1000)


def pop_and_seam(frames: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """(pop, seam) over the N steps of the loop, the wrap N−1 → 0 included (the last step)."""
    steps = np.abs(np.roll(frames, -1, axis=0) - frames).max(axis=-1)[:, region]
    p99 = np.percentile(steps, 99, axis=1)
    means = steps.mean(axis=1)
    return float(p99.max() / max(np.median(p99), 1e-12)), float(means[-1] / max(np.median(means[:-1]), 1e-12))


def exactness(frames: np.ndarray, image: np.ndarray, flow: torch.Tensor) -> tuple[bool, bool]:
    """(static pixels exact in every frame, frame 0 exact)."""
    moving = (flow[0] != 0).any(dim=0).numpy().astype(np.uint8)
    reach = int(math.ceil(float(flow.abs().max()))) + 2
    far = cv2.dilate(moving, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) == 0
    static = bool((frames[:, far] == image[far]).all())
    return static, bool((frames[0] == image).all())


# --- engines -----------------------------------------------------------------------------------------

ENGINES = ("classic", "sharp", "layers")
"""classic and sharp: the engines on the flow before motion layers (each region's speed faded to zero at its border,
the regions merged into one flow, one loop period); layers: the sharp loop on the scene's motion-layer stack (each
layer its border, default auto, and its cycles)."""


def render(engine: str, image: torch.Tensor, scene: Scene, masks: torch.Tensor, n_frames: int,
           seed: int = 0) -> torch.Tensor:
    """One engine's loop of the scene; ``seed`` is the sharp loop's stagger pattern (the flow stays the same; the
    classic engine has no stagger)."""
    if engine == "layers":
        return render_sharp_loop(image, scene_stack(scene, image, masks), n_frames, seed=seed)
    flow = scene_flow(scene, image, masks) if not scene.layers else scene_stack(scene, image, masks, "stick").combined()
    if engine == "classic":
        return classic_loop(image, flow, n_frames)
    return render_sharp_loop(image, flow, n_frames, seed=seed)


def bare_splat_ms(height: int, width: int, repeats: int = 3) -> float:
    four, disp = torch.rand(1, 4, height, width), torch.randn(1, 2, height, width) * 1.5
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        softsplat(four, disp)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def measured_regions(scene: Scene, masks: torch.Tensor) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, region, core, owned) bool [H, W] of each region measured: each layer's own pixels (the upper layer
    owns overlaps) and their core, cut to the scene's ``focus`` if it has one, and its own pixels uncut."""
    regions = masks[:, 0].numpy() > 0.5
    height, width = regions.shape[-2:]
    focus = _polygon_mask(scene.focus, (), height, width) > 0 if scene.focus else np.ones((height, width), bool)
    measured = []
    for k, region in enumerate(regions):
        owned = region & ~regions[k + 1:].any(axis=0)
        name = scene.name if len(regions) == 1 else f"{scene.name}/{k + 1}"
        measured.append((name, owned & focus, core_of(owned) & focus, owned))
    return measured


def evaluate(scene: Scene, width: int, n_frames: int, engines: list[str], sheet_dir: Path | None,
             seed: int = 0) -> list[dict]:
    image, masks = load_scene(scene, width)
    height = image.shape[-2]
    regions = measured_regions(scene, masks)
    still_pixels = ~(masks[:, 0].numpy() > 0.5).any(axis=0)
    still = image[0].permute(1, 2, 0).numpy()
    splat = bare_splat_ms(height, width)
    reach_flow = scene_flow(scene, image, masks) if not scene.layers else scene_stack(scene, image, masks).combined()
    rows, mids = [], []
    for engine in engines:
        start = time.perf_counter()
        out = render(engine, image, scene, masks, n_frames, seed)
        elapsed = (time.perf_counter() - start) / n_frames * 1e3
        frames = out[0].numpy()
        static, first = exactness(frames, still, reach_flow)
        for name, region, core, owned in regions:
            pop, seam = pop_and_seam(frames, region)
            rows.append({
                "scene": name, "engine": engine, "seed": seed, "contrast": contrast(frames, core),
                "coherence": coherence(frames, core), "pop": pop, "seam": seam,
                "line": line(frames, owned, still_pixels),
                "bias": bias(frames, owned, still_pixels, reach_flow[0].numpy()), "static": static, "frame0": first,
                "ms": elapsed, "splats": elapsed / splat, "travel": float(reach_flow.norm(dim=1).max()) * n_frames,
            })
        mids.append(frames[[n_frames // 4, n_frames // 2, 3 * n_frames // 4]])
    if sheet_dir is not None:
        suffix = f"_seed{seed}" if seed else ""
        write_sheet(sheet_dir / f"{scene.name}{suffix}.png", still, mids, engines,
                    crop_box(np.any([r for _, r, _, _ in regions], axis=0)))
    return rows


def crop_box(region: np.ndarray, size: tuple[int, int] = (200, 300)) -> tuple[slice, slice]:
    """A window of at most ``size`` (h, w) px centred on the region's core, shown 1:1 so detail can be judged."""
    ys, xs = np.nonzero(core_of(region) if core_of(region).any() else region)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    height, width = region.shape
    h, w = min(size[0], height), min(size[1], width)
    top, left = min(max(0, cy - h // 2), height - h), min(max(0, cx - w // 2), width - w)
    return slice(top, top + h), slice(left, left + w)


def write_sheet(path: Path, still: np.ndarray, mids: list[np.ndarray], engines: list[str],
                box: tuple[slice, slice]) -> None:
    """One row per engine: a 1:1 crop of the still, then of frames N/4, N/2, 3N/4 (labelled)."""
    rows = []
    for engine, frames in zip(engines, mids, strict=True):
        tiles = [still[box], *frames[:, box[0], box[1]]]
        row = np.concatenate([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=1.0) for t in tiles], axis=1)
        row = (np.clip(row, 0, 1) * 255).astype(np.uint8).copy()
        cv2.putText(row, engine, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        rows.append(np.pad(row, ((0, 4), (0, 0), (0, 0)), constant_values=255))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two small scenes, 12 frames (smoke test)")
    parser.add_argument("--width", type=int, default=512, help="scene width in px (default 512)")
    parser.add_argument("--frames", type=int, default=60, help="loop length (default 60, Animate's default)")
    parser.add_argument("--scenes", default="", help="comma-separated scene names (default: all)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines: " + ", ".join(ENGINES))
    parser.add_argument("--sheet", type=Path, default=None, help="write contact sheets of mid-loop frames here")
    parser.add_argument("--seeds", default="0", help="comma-separated stagger seeds of the sharp loop (default 0); "
                        "with several, each scene runs with each and the worst and spread over them are printed")
    args = parser.parse_args()
    scenes = [s for s in SCENES if not args.scenes or s.name in args.scenes.split(",")]
    width, n_frames = (args.width, args.frames) if not args.quick else (160, 12)
    if args.quick:
        scenes = scenes[:2]
    engines = args.engines.split(",")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; width {width}, {n_frames} frames"
          + (f"; stagger seeds {args.seeds}" if len(seeds) > 1 else ""))
    wide = len(seeds) > 1  # room for the seed's tag after the engine
    print(header(wide))
    rows = []
    for scene in scenes:
        for seed in seeds:
            for r in evaluate(scene, width, n_frames, engines, args.sheet, seed):
                rows.append(r)
                print(row_line(r, f" s{seed}" if wide else ""))
    if wide:
        print(f"worst over seeds {args.seeds} (each metric's worst seed), then the spread (max − min) over them:")
        print(header(wide))
        for worst, spread in summarise(rows):
            print(row_line(worst, " worst"))
            print(row_line(spread, " spread"))
    print("targets: contrast ≥ 0.90, coherence ≥ 0.85, pop ≤ 1.5, seam ≤ 1.2, static and frame 0 exact")


def header(wide: bool = False) -> str:
    return (f"{'scene':<16} {'engine':<{15 if wide else 8}} {'contrast':>8} {'coher.':>7} {'pop':>6} {'seam':>6} "
            f"{'line':>5} {'bias':>5} {'static':>6} {'frame0':>6} {'ms/fr':>7} {'÷splat':>7} {'travel px':>9}")


def row_line(r: dict, tag: str = "") -> str:
    """One printed row; ``tag`` (a seed, worst, spread) follows the engine in a wider column."""
    return (f"{r['scene']:<16} {r['engine'] + tag:<{15 if tag else 8}} {r['contrast']:>8.3f} {r['coherence']:>7.3f} "
            f"{r['pop']:>6.2f} {r['seam']:>6.2f} {r['line']:>5.2f} {r['bias']:>5.0f} {str(r['static']):>6} "
            f"{str(r['frame0']):>6} {r['ms']:>7.1f} {r['splats']:>7.2f} {r['travel']:>9.0f}")


WORST = {"contrast": min, "coherence": min, "pop": max, "seam": max, "line": max,
         "bias": lambda values: max(values, key=abs), "static": all, "frame0": all, "ms": max, "splats": max,
         "travel": max}
"""How each printed figure's worst over seeds is taken (the quality metrics by their direction, the signed bias by
its size; exactness must hold for every seed)."""


def summarise(rows: list[dict]) -> list[tuple[dict, dict]]:
    """Per scene and engine (in the order measured): the worst of each figure over the seeds, and its spread
    (max − min; exactness: whether every seed was exact). A metric that is nan for some seed (no border with
    still pixels) is taken over the others."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scene"], r["engine"]), []).append(r)
    out = []
    for (scene, engine), group in groups.items():
        worst, spread = {"scene": scene, "engine": engine}, {"scene": scene, "engine": engine}
        for key, pick in WORST.items():
            values = [r[key] for r in group if not (isinstance(r[key], float) and math.isnan(r[key]))]
            if not values:
                worst[key] = spread[key] = float("nan")
            elif pick is all:
                worst[key] = spread[key] = all(values)
            else:
                worst[key], spread[key] = pick(values), float(max(values) - min(values))
        out.append((worst, spread))
    return out


if __name__ == "__main__":
    main()
