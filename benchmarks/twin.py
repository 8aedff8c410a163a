"""Benchmark of T2C_TwinSampler against a plain KSampler on a batch of 2, inside the real ComfyUI.

Run: ``.venv/bin/python benchmarks/twin.py`` (``--quick``: 256² only). The UNet is the real SD1.5 architecture
(860 M parameters) with random weights, so no checkpoint is needed; CPU always, CUDA too when available.

Per image size, three runs with the same steps (``--steps``, default 4). The first step is a warm-up and the
last is left out (α reaches 0 there, so the twin needs one row less: 1 step of 50 in a real run); the mean of
the others (with the defaults: one step that injects attention, one that captures it), timed between the
sampler's step callbacks, is reported. On CPU the time is the process's CPU time,
which the load of a shared machine disturbs far less than wall time.
* ``plain``: ComfyUI's KSampler (``common_ksampler``) on a batch of 2 (cfg 5): 4 UNet rows per step;
* ``twin``: T2C_TwinSampler with the official settings (negative_alpha 0.75): the same 4 rows + 1 for the
  twin's negative prompt in the same UNet call, plus the attention capture. Target: ≤ 1.3× the plain time;
* ``twin_a1``: negative_alpha = 1 (no negative prompt). Target: ≤ 1.08×.
Each run is its own subprocess, so peak memory is comparable. "peak" is the whole process (CPU: peak RSS;
CUDA: torch.cuda.max_memory_allocated), the model included; target: twin peak ≤ plain peak · 1.1 + the capture
buffer. "Δ peak" is the part that sampling adds once the model is ready (activations). On CPU it is mostly
ComfyUI's attention score matrices, which the twin sampler evaluates one CFG branch at a time
(sampling/twin_patches.py), so its Δ can be below the plain sampler's even with the extra row, and its attention a
little faster.

Expected duration on the 2-core VM: about 15 minutes by default when idle (mostly 512²), about 2 minutes with --quick.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODES = ("plain", "twin", "twin_a1")
TARGETS = {"twin": 1.3, "twin_a1": 1.08}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _load_comfy(device: str):
    """ComfyUI's modules on the path (before our repository, so `nodes` is ComfyUI's), and our pack loaded."""
    for path in (REPO_ROOT, REPO_ROOT / "scripts", REPO_ROOT / "tests" / "comfy"):
        sys.path.insert(0, str(path))
    from comfy_server import PACK_NAME, comfy_dir

    sys.path.insert(0, str(comfy_dir()))
    import comfy.cli_args

    comfy.cli_args.args.cpu = device == "cpu"
    spec = importlib.util.spec_from_file_location(PACK_NAME, REPO_ROOT / "__init__.py",
                                                  submodule_search_locations=[str(REPO_ROOT)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = pack
    spec.loader.exec_module(pack)
    extension = asyncio.run(pack.comfy_entrypoint())
    classes = asyncio.run(extension.get_node_list())
    return {cls.define_schema().node_id: cls for cls in classes}


def child(mode: str, size: int, steps: int, device: str, threads: int) -> dict:
    """One run in this process; its mean timed step and its peak memory."""
    nodes_by_id = _load_comfy(device)
    import latent_preview
    import tiny_sd
    import torch

    import nodes

    torch.set_num_threads(threads)
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = tiny_sd.sd15_patcher(model_channels=320, context_dim=768, dtype=dtype)
    positive, twin_positive, empty = (tiny_sd.conditioning(seed, 768) for seed in (1, 2, 3))
    stamps: list[float] = []

    def stamping_callback(*_args, **_kwargs):
        def callback(step, x0, x, total_steps):
            if device == "cuda":
                torch.cuda.synchronize()
            stamps.append(time.perf_counter() if device == "cuda" else time.process_time())
        return callback

    latent_preview.prepare_callback = stamping_callback
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        base = _peak_rss_mb()
    latent = size // 8
    capture_mb = 0.0
    with torch.inference_mode():
        if mode == "plain":
            nodes.common_ksampler(model, 0, steps, 5.0, "ddim", "ddim_uniform", positive, empty,
                                  {"samples": torch.zeros(2, 4, latent, latent)})
        else:
            _, _, capture = nodes_by_id["T2C_TwinSampler"].execute(
                model=model, positive=positive, twin_positive=twin_positive, unconditional=empty,
                latent={"samples": torch.zeros(1, 4, latent, latent)}, seed=0, steps=steps, cfg=5.0, twin_cfg=7.5,
                sampler_name="ddim", scheduler="ddim_uniform", attention_injection=0.52, feature_injection=0.82,
                negative_alpha=1.0 if mode == "twin_a1" else 0.75).result
            capture_mb = capture.self_attn.numel() * 4 / 2**20
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _peak_rss_mb()
    timed = [later - earlier for earlier, later in zip(stamps[:-2], stamps[1:-1], strict=True)]
    step_s = sum(timed) / len(timed)
    return {"mode": mode, "size": size, "device": device, "step_s": step_s, "peak_mb": peak_mb,
            "delta_peak_mb": peak_mb - base, "capture_mb": capture_mb}


def run(mode: str, size: int, steps: int, device: str, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--sizes", str(size), "--steps", str(steps),
               "--device", device, "--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} {size}² on {device} failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def report(rows: list[dict]) -> None:
    print(f"{'device':6} {'size':>5} {'mode':8} {'s/step':>8} {'× plain':>8} {'peak MB':>8} {'× plain':>8} "
          f"{'Δ peak MB':>10} {'capture MB':>10}")
    plain = {(r["device"], r["size"]): r for r in rows if r["mode"] == "plain"}
    for row in rows:
        base = plain[(row["device"], row["size"])]
        ratio = row["step_s"] / base["step_s"]
        target = TARGETS.get(row["mode"])
        verdict = "" if target is None else ("  ok" if ratio <= target else f"  over {target}×")
        mem_ok = row["peak_mb"] <= 1.1 * base["peak_mb"] + row["capture_mb"]
        print(f"{row['device']:6} {row['size']:>5} {row['mode']:8} {row['step_s']:8.2f} {ratio:8.2f} "
              f"{row['peak_mb']:8.0f} {row['peak_mb'] / base['peak_mb']:8.2f} "
              f"{row['delta_peak_mb']:10.0f} {row['capture_mb']:10.1f}{verdict}"
              f"{'' if mem_ok or row['mode'] == 'plain' else '  memory over target'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256² only")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=4,
                        help="sampler steps (≥ 3; the first and the last are not timed)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cpu, and cuda if present")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: on a shared 2-core machine two are slower and noisier)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 3:
        parser.error("--steps must be at least 3: the first step is a warm-up and the last is not timed")
    if args.child:
        print(json.dumps(child(args.child, args.sizes[0], args.steps, args.device or "cpu", args.threads)))
        return
    import torch

    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    sizes = [256] if args.quick else args.sizes
    rows = []
    for device in devices:
        for size in sizes:
            for mode in MODES:
                started = time.perf_counter()
                rows.append(run(mode, size, args.steps, device, args.threads))
                print(f"  {device} {size}² {mode}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    report(rows)


if __name__ == "__main__":
    main()
