"""Benchmark of the official generators reimplemented in models.networks (golden-filled weights).

Run: ``.venv/bin/python benchmarks/networks.py`` (``--quick``: A and B at 256², C at 128²).

* A (TextFlowNet) and B (HintFlowNet): one forward at 512² (best of ``--repeats`` after a warm-up).
* C (SplatVideoNet): a 60-frame 512² loop rendered two ways in the same run, frame by frame interleaved
  (the machine may be shared; interleaving exposes both to the same load):
    - per-loop API: the image encoded once, displacements from ``loop_displacements`` (O(N) Euler
      steps), one splat + decode per frame — what ``render_loop_with_network`` does;
    - official structure: ``network(input, (0, i, N−1))`` per frame — both images re-encoded and the
      Euler integration redone from scratch (N steps) for every frame.
  Both write the same 0..1 frames; the largest difference between them is printed (expected: 0).
  Target: per-loop ≥ 1.8× faster.
* Peak memory: each network runs in its own subprocess; "peak RSS" is that process's ru_maxrss and
  "Δ" its growth over the moment the weights were ready (activations and working buffers). On CUDA
  the figure is torch.cuda.max_memory_allocated.

Expected duration of the default run on the 2-core development VM: ≈ 12 minutes when idle (A 4.3 s and B
0.36 s per 512² forward; the 60-frame 512² loop 3.50 s/frame per-loop vs 6.73 s/frame official structure,
1.92×, frames identical), ≈ 35 minutes while shared with other jobs (load ≈ 4). ``--quick`` takes a few
minutes (1.97× measured at 128² under load).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "fixtures")]  # models/, and the golden fill (a test fixture)

from golden_fill import golden_fill_  # noqa: E402
from models.loop.euler import loop_displacements  # noqa: E402
from models.networks import HintFlowNet, SplatVideoNet, TextFlowNet  # noqa: E402


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _build(network_class: type, device: torch.device) -> torch.nn.Module:
    with torch.device("meta"):
        network = network_class()
    return golden_fill_(network).to(device)


def make_scene(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Smooth image [1, 3, S, S] in 0..1, an elliptic mask covering ~40 %, and an official-range flow.

    The flow is smooth inside the mask and clamped like the official video input: ±1 px/frame · speed 0.5.
    """
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(1, size // 16), max(1, size // 16), generator=generator)
    image = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    radius = math.sqrt(0.4 / math.pi)
    mask = ((x / (1.3 * radius)) ** 2 + (y / (radius / 1.3)) ** 2 <= 4.0).float()
    angle = 0.6 * torch.sin(2.5 * x + 1.0) * torch.cos(1.5 * y)
    flow = torch.stack((torch.cos(angle), torch.sin(angle))).unsqueeze(0) * 1.5 * mask
    return image, mask[None, None], flow.clamp(-1, 1) * 0.5


def _time_forward(network: torch.nn.Module, inputs: tuple, repeats: int, device: torch.device) -> float:
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):  # the first call is a warm-up (kernel selection, allocations)
            _synchronize(device)
            start = time.perf_counter()
            network(*inputs)
            _synchronize(device)
            times.append(time.perf_counter() - start)
    return min(times[1:])


def stage_flow(kind: str, size: int, repeats: int, device: torch.device) -> dict:
    image, mask, _ = make_scene(size)
    rgb, mask = ((image - 0.5) * 2).to(device), mask.to(device)
    if kind == "text_flow":
        network = _build(TextFlowNet, device)
        context = torch.randn(1, 77, 768, generator=torch.Generator().manual_seed(1)).to(device)
        inputs = (torch.cat((rgb, mask), 1), context)
    else:
        network = _build(HintFlowNet, device)
        hint = torch.tensor([1.0, 0.0], device=device).view(1, 2, 1, 1) * mask
        inputs = (torch.cat((rgb, mask, hint), 1),)
    ready_mb = _peak_rss_mb()
    seconds = _time_forward(network, inputs, repeats, device)
    return {"seconds": seconds, "ready_mb": ready_mb, "peak_mb": _peak_rss_mb()}


def stage_video(size: int, n_frames: int, device: torch.device) -> dict:
    image, _, flow = make_scene(size)
    network = _build(SplatVideoNet, device)
    rgb, flow = ((image - 0.5) * 2).to(device), flow.to(device)
    official_input = torch.cat((rgb, rgb, flow), dim=1)
    frames = {name: torch.empty(n_frames, size, size, 3) for name in ("loop", "official")}
    seconds = {"loop": 0.0, "official": 0.0}
    ready_mb = _peak_rss_mb()

    def timed(name: str, work, i: int) -> None:
        _synchronize(device)
        start = time.perf_counter()
        frame = work(i)
        frames[name][i] = ((frame[0] + 1) / 2).clamp(0, 1).permute(1, 2, 0).cpu()
        _synchronize(device)
        seconds[name] += time.perf_counter() - start

    def loop_frame(i: int) -> torch.Tensor:
        _, forward, backward = next(displacements)
        return network.render(encoded, forward, backward, 1 - i / n_frames)

    def official_frame(i: int) -> torch.Tensor:
        return network(official_input, (0, i, n_frames - 1))

    with torch.no_grad():
        official_frame(0)  # warm-up
        start = time.perf_counter()
        encoded = network.encode_pair(rgb)  # the same image is the loop's start and end: encoded once
        displacements = loop_displacements(flow, n_frames)
        seconds["loop"] += time.perf_counter() - start
        for i in range(n_frames):
            timed("loop", loop_frame, i)
            timed("official", official_frame, i)
            if (i + 1) % 10 == 0:
                print(f"  video: {i + 1}/{n_frames} frames", file=sys.stderr, flush=True)
    difference = (frames["loop"] - frames["official"]).abs().max().item()
    return {**seconds, "max_difference": difference, "ready_mb": ready_mb, "peak_mb": _peak_rss_mb()}


def _cuda_memory(result: dict, device: torch.device) -> dict:
    if device.type == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return result


def run_stage(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    if args.stage == "video":
        result = stage_video(args.size, args.frames, device)
    else:
        result = stage_flow(args.stage, args.size, args.repeats, device)
    print(json.dumps(_cuda_memory(result, device)))


def _spawn(stage: str, size: int, device: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--size", str(size), "--device", device]
    command += ["--frames", str(args.frames), "--repeats", str(args.repeats)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)  # progress: stderr
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} on {device} failed (exit code {done.returncode}, see above)")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory(result: dict) -> str:
    text = f"peak RSS {result['peak_mb']:7.0f} MB (Δ {result['peak_mb'] - result['ready_mb']:+6.0f} MB)"
    if "cuda_peak_mb" in result:
        text += f", CUDA peak {result['cuda_peak_mb']:.0f} MB"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="A and B at 256², C at 128²")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--stage", choices=("text_flow", "hint_flow", "video"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=512, help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args)
        return
    flow_size, video_size = (256, 128) if args.quick else (512, 512)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices: {', '.join(devices)}")
    for device in devices:
        for stage, label in (("text_flow", "A TextFlowNet"), ("hint_flow", "B HintFlowNet")):
            result = _spawn(stage, flow_size, device, args)
            print(f"{label:15s} {flow_size}² {device:4s}: {result['seconds']:7.2f} s / forward   {_memory(result)}")
        result = _spawn("video", video_size, device, args)
        n = args.frames
        loop, official = result["loop"], result["official"]
        print(
            f"C SplatVideoNet {video_size}² {device:4s}, {n} frames: per-loop {loop:7.1f} s ({loop / n:.3f} s/frame), "
            f"official structure {official:7.1f} s ({official / n:.3f} s/frame) → {official / loop:.2f}× faster "
            f"(target ≥ 1.8); max |frame difference| {result['max_difference']:.1e}; {_memory(result)}"
        )


if __name__ == "__main__":
    main()
