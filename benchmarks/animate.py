"""Benchmark of the learning-free pixel engines: the classic splat (models.loop.pixel_animator.render_loop) and the
sharp loop (models.loop.sharp_loop.render_sharp_loop), whose one-time analysis pass is timed on its own.

Run: ``.venv/bin/python benchmarks/animate.py`` (``--quick`` for a tiny smoke run).

For each size and frame count it prints frames/s and two ratios measured in the same run:
  (a) animator time per frame ÷ one bare 4-channel scatter_add_ splat of the whole frame (the floor; a
      symmetric loop needs two splats per frame) — target ≤ 3.0;
  (b) "official structure" time per frame ÷ animator time per frame — target ≥ 10 at 120 frames. The
      official structure (below) re-integrates Euler from scratch for every frame (N steps per frame,
      O(N²) per clip) and splats the full frame twice. Its per-frame cost does not depend on the frame
      index (i + (N − i) = N steps), so it is timed on a few evenly spaced frames and averaged.
  (c) sharp loop time per frame (rendering with a ready plan) ÷ the same bare splat — target ≤ 3.0 — and its
      analysis pass (make_plan) as a share of the loop time — target ≤ 20 %.
  (d) motion layers (``--layers``, CPU time of the process, so run it with ``--threads 1`` on a shared machine):
      the sharp loop rendering a stack of 1–4 layers (the same flow cut into horizontal bands, alternately passing
      behind and slipping, or all behind with ``--all-behind``, with 1, 2, 3, 4 cycles; 0 layers is the plain
      flow) — time per frame ÷ the bare splat (target ≤ 3.0 in total, not per layer), the analysis share (target
      ≤ 20 %) and the memory beyond the plain flow's run, in frame-sized buffers (float32 RGB; target ≤ 1 per
      layer): ``held``, every tensor the plan and the renderer keep (walked from the objects at every frame, the
      largest), and with ``--peak`` the measured peak (resident memory of planning and rendering, the median of
      three fresh interpreters a case) less the plain flow's; the plain flow's own figures are printed too.
All figures are best-of-3 per-frame averages (the animator's over its whole loop, the baseline's over its
sampled frames), measured interleaved (the machine may be shared: the minimum is the least disturbed sample).
The flow is realistic for a cinemagraph: a smooth field inside a mask covering ~40 % of the image,
|v| ≈ 1–2 px/frame.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))

from peak_memory import held_bytes, peak_over  # noqa: E402

from models.flow.layers import FlowLayer, FlowStack  # noqa: E402
from models.loop.engines import CLASSIC_SPLAT, SHARP_LOOP  # noqa: E402
from models.loop.pixel_animator import render_loop, speed_importance  # noqa: E402
from models.loop.sharp_loop import make_plan, render_sharp_loop  # noqa: E402
from models.loop.splatting import softsplat  # noqa: E402


def make_scene(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random image and a smooth flow (|v| ≈ 1–2 px/frame) inside an ellipse covering ~40 %."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.interpolate(
        torch.rand(1, 3, size // 16, size // 16, generator=gen), size=(size, size), mode="bicubic"
    ).clamp(0, 1)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    radius = math.sqrt(0.4 / math.pi)  # ellipse area 0.4 of the [-1, 1]² square
    mask = ((x / (1.3 * radius)) ** 2 + (y / (radius / 1.3)) ** 2 <= 4.0).float()
    angle = 0.6 * torch.sin(2.5 * x + 1.0) * torch.cos(1.5 * y)
    speed = 1.5 + 0.5 * torch.sin(3.0 * y + 2.0 * x)
    flow = torch.stack((speed * torch.cos(angle), speed * torch.sin(angle))).unsqueeze(0) * mask
    return image, flow


def official_euler(flow: torch.Tensor, steps: int) -> torch.Tensor:
    """Full-grid Euler integration from scratch (the official structure; same semantics as models.loop.euler)."""
    _, _, height, width = flow.shape
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    start = torch.stack((xs, ys)).float().view(1, 2, -1)
    flat = flow.view(1, 2, -1)
    pos, invalid = start.clone(), torch.zeros(1, height * width, dtype=torch.bool)
    for _ in range(steps):
        index = (torch.round(pos[:, 1]) * width + torch.round(pos[:, 0])).long()
        pos = pos + torch.gather(flat, 2, index.unsqueeze(1).expand(-1, 2, -1))
        invalid |= (pos[:, 0] < 0) | (pos[:, 0] > width - 1) | (pos[:, 1] < 0) | (pos[:, 1] > height - 1)
        pos = torch.where(invalid.unsqueeze(1), start, pos)
    disp = (pos - start).masked_fill(invalid.unsqueeze(1), float(max(height, width) + 1))
    return disp.view(1, 2, height, width)


def official_frame(image: torch.Tensor, flow: torch.Tensor, weight: torch.Tensor, i: int, n: int) -> torch.Tensor:
    """One frame the way the official code structures it: fresh Euler both ways, two full-frame splats."""
    alpha = 1 - i / n
    stacked = torch.cat((image * weight, weight), dim=1)
    total = softsplat(stacked * alpha, official_euler(flow, i)) + softsplat(
        stacked * (1 - alpha), official_euler(-flow, n - i)
    )
    return total[:, :3] / total[:, 3:].clamp_min(1e-8)


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    """Smallest time of ``repeats`` calls on ``clock`` (the machine is shared; the minimum is the least noisy)."""
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def run(size: int, n_frames: int, repeats: int, baseline_frames: int) -> dict[str, float]:
    """Best-of-``repeats`` timings, interleaved so that load changes hit all three measurements alike."""
    image, flow = make_scene(size)
    weight = torch.exp(speed_importance(flow) - speed_importance(flow).max())
    out = torch.empty(1, n_frames, size, size, 3)
    four = torch.rand(1, 4, size, size)
    full_disp = torch.randn(1, 2, size, size) * 1.5
    picks = sorted({round(k * (n_frames - 1) / max(1, baseline_frames - 1)) for k in range(baseline_frames)})
    animator_s = splat_s = official_s = sharp_s = plan_s = math.inf
    plan = make_plan(flow, n_frames, image=image)
    for _ in range(repeats):
        animator_s = min(animator_s, best_time(lambda: render_loop(image, flow, n_frames, out=out), 1) / n_frames)
        plan_s = min(plan_s, best_time(lambda: make_plan(flow, n_frames, image=image), 1))
        sharp_s = min(sharp_s, best_time(lambda: render_sharp_loop(image, flow, n_frames, out=out, plan=plan), 1)
                      / n_frames)
        splat_s = min(splat_s, best_time(lambda: softsplat(four, full_disp), 3))
        # The official per-frame cost does not depend on i (i + (N − i) = N Euler steps): time a few frames and
        # average them, as the animator's figure averages its frames (a minimum over single frames would favour
        # the baseline on a noisy machine).
        frame_times = [best_time(lambda i=i: official_frame(image, flow, weight, i, n_frames), 1) for i in picks]
        official_s = min(official_s, sum(frame_times) / len(frame_times))
    return {
        "fps": 1 / animator_s,
        "total_s": animator_s * n_frames,
        "per_frame_ms": animator_s * 1e3,
        "splat_ms": splat_s * 1e3,
        "ratio_floor": animator_s / splat_s,
        "official_ms": official_s * 1e3,
        "speedup": official_s / animator_s,
        "sharp_ms": sharp_s * 1e3,
        "sharp_floor": sharp_s / splat_s,
        "plan_share": plan_s / (sharp_s * n_frames + plan_s),
    }


def layered_stack(flow: torch.Tensor, n_layers: int, all_behind: bool = False) -> FlowStack:
    """The flow cut into ``n_layers`` horizontal bands of its region; even layers pass behind, odd ones slip and
    move the other way (or every layer passes behind: the most memory a stack holds); layer k repeats k + 1 times
    per loop."""
    moving = (flow != 0).any(dim=1, keepdim=True)
    rows = moving.any(dim=-1)[0, 0].nonzero().squeeze(1)
    edges = torch.linspace(float(rows[0]), float(rows[-1]) + 1, n_layers + 1).round().long()
    layers = []
    for k in range(n_layers):
        band = torch.zeros_like(moving)
        band[..., edges[k]:edges[k + 1], :] = True
        mask = (band & moving).float()
        border = "behind" if k % 2 == 0 or all_behind else "slip"
        layers.append(FlowLayer(flow=flow * mask * (1 if k % 2 == 0 else -1), mask=mask, border=border,
                                cycles=k + 1, label=f"layer {k + 1}"))
    return FlowStack(tuple(layers))


def layers_case(size: int, n_layers: int, all_behind: bool) -> tuple[torch.Tensor, torch.Tensor | FlowStack]:
    """The benchmark's image and what it renders: the plain flow for 0 layers, else :func:`layered_stack`."""
    image, flow = make_scene(size)
    return image, layered_stack(flow, n_layers, all_behind) if n_layers else flow


def motion_inputs(image: torch.Tensor, motion: torch.Tensor | FlowStack) -> list[torch.Tensor]:
    """What the caller holds anyway, not counted as held: the image and the flows."""
    return [image, *([layer.flow for layer in motion.layers] if isinstance(motion, FlowStack) else [motion])]


PEAK_RUNS = 3
"""Fresh interpreters a peak is measured in, the median kept: one case's resident peak varies by a frame or two from
run to run (what the allocator keeps of the temporaries freed before the traces' buffers are made)."""


def peak_bytes(size: int, n_frames: int, n_layers: int, all_behind: bool) -> int:
    """The resident-memory peak of planning and rendering one case: the median over PEAK_RUNS fresh interpreters."""
    command = [sys.executable, __file__, "--peak-case", str(size), str(n_frames), str(n_layers)]
    peaks = []
    for _ in range(PEAK_RUNS):
        run = subprocess.run(command + ["--all-behind"] * all_behind, capture_output=True, text=True, check=True)
        peaks.append(json.loads(run.stdout.strip().splitlines()[-1])["peak"])
    return sorted(peaks)[len(peaks) // 2]


def peak_case(size: int, n_frames: int, n_layers: int, all_behind: bool) -> None:
    """Print ``{"peak": bytes}``: what planning and rendering add to the resident memory (inputs and frames
    allocated first, the code warmed up on a small case)."""
    torch.set_num_threads(1)
    small, small_motion = layers_case(64, n_layers, all_behind)
    render_sharp_loop(small, small_motion, 4)
    image, motion = layers_case(size, n_layers, all_behind)
    out = torch.empty(1, n_frames, size, size, 3)
    out.zero_()  # touch the frames: they are the run's, not the peak over it
    peak = peak_over(lambda: render_sharp_loop(image, motion, n_frames, out=out))
    print(json.dumps({"peak": peak}))


def run_layers(size: int, n_frames: int, n_layers: int, repeats: int, all_behind: bool = False,
               peak: bool = False) -> dict[str, float]:
    image, stack = layers_case(size, n_layers, all_behind)
    out = torch.empty(1, n_frames, size, size, 3)
    four, full_disp = torch.rand(1, 4, size, size), torch.randn(1, 2, size, size) * 1.5
    plan = make_plan(stack, n_frames, image=image)
    plan_s = render_s = splat_s = math.inf
    clock = time.process_time  # CPU time of this process: other load on a shared machine does not count
    for _ in range(repeats):
        plan_s = min(plan_s, best_time(lambda: make_plan(stack, n_frames, image=image), 1, clock))
        render_s = min(render_s, best_time(lambda: render_sharp_loop(image, stack, n_frames, out=out, plan=plan), 1,
                                           clock) / n_frames)
        splat_s = min(splat_s, best_time(lambda: softsplat(four, full_disp), 3, clock))
    return {"ms": render_s * 1e3, "floor": render_s / splat_s, "share": plan_s / (render_s * n_frames + plan_s),
            "held": held_bytes(image, stack, n_frames, motion_inputs(image, stack)),
            "peak": peak_bytes(size, n_frames, n_layers, all_behind) if peak else math.nan}


def print_layers(quick: bool, all_behind: bool, peak: bool, sizes: list[int]) -> None:
    """Column (d): one row per size and layer count; memory beyond the plain flow's run, in frames."""
    print(f"{'all behind' if all_behind else 'alternately behind and slip'}; held and peak: beyond the plain flow's "
          "run, in frame-sized buffers (H·W·3 float32)")
    print(f"{'size':>6} {'frames':>6} {'layers':>6} {'ms/frame':>9} {'÷splat':>7} {'analysis':>8} {'held':>6} "
          f"{'peak':>6}")
    for size, n_frames in ([(128, 24)] if quick else [(size, 120) for size in sizes]):
        frame, plain = size * size * 3 * 4, {}
        for n_layers in range(5 if not quick else 3):
            r = run_layers(size, n_frames, n_layers, 1 if quick else 2, all_behind, peak)
            if not plain:
                plain = r
                print(f"{'':>22} the plain flow's run in all: held {r['held'] / frame:.2f}, peak "
                      f"{r['peak'] / frame:.2f} frames")
            print(f"{size:>6} {n_frames:>6} {n_layers:>6} {r['ms']:>9.1f} {r['floor']:>7.2f} {r['share']:>7.0%} "
                  f"{(r['held'] - plain['held']) / frame:>6.2f} {(r['peak'] - plain['peak']) / frame:>6.2f}",
                  flush=True)
    print("targets: ÷splat ≤ 3.0 in total; analysis ≤ 20 % of the loop; held and peak ≤ 1 frame-sized buffer per "
          "layer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--layers", action="store_true", help="only the motion-layer column (d)")
    parser.add_argument("--all-behind", action="store_true", help="(d): every layer passes behind (the worst case)")
    parser.add_argument("--peak", action="store_true", help="(d): measure the peak memory too (a process a case)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="(d): the sizes (120 frames)")
    parser.add_argument("--peak-case", type=int, nargs=3, metavar=("SIZE", "FRAMES", "LAYERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_case:
        peak_case(*args.peak_case, args.all_behind)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [(128, 12), (128, 24)] if args.quick else [(512, 60), (512, 120), (1024, 60), (1024, 120)]
    repeats, baseline_frames = (1, 3) if args.quick else (3, 3)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.layers:
        print_layers(args.quick, args.all_behind, args.peak, args.sizes)
        return
    print(f"left of │ the {CLASSIC_SPLAT!r} engine, right of it the {SHARP_LOOP!r} engine")
    header = (
        f"{'size':>6} {'frames':>6} {'fps':>7} {'loop s':>7} {'ms/frame':>9} {'splat ms':>9} "
        f"{'÷splat':>7} {'official ms/frame':>18} {'speed-up':>9} │ {'sharp ms':>9} {'÷splat':>7} {'analysis':>8}"
    )
    print(header)
    for size, n_frames in cases:
        r = run(size, n_frames, repeats, baseline_frames)
        print(
            f"{size:>6} {n_frames:>6} {r['fps']:>7.1f} {r['total_s']:>7.2f} {r['per_frame_ms']:>9.1f} "
            f"{r['splat_ms']:>9.1f} {r['ratio_floor']:>7.2f} {r['official_ms']:>18.1f} {r['speedup']:>8.1f}× │ "
            f"{r['sharp_ms']:>9.1f} {r['sharp_floor']:>7.2f} {r['plan_share']:>7.0%}"
        )
    print("targets: ÷splat ≤ 3.0 (both engines); speed-up ≥ 10× at 120 frames; 512² × 60 frames well under 10 s; "
          f"{SHARP_LOOP} analysis ≤ 20 % of its loop")


if __name__ == "__main__":
    main()
