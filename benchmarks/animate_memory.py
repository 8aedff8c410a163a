"""Benchmark of Animate's memory estimate (nodes.memory.animate_bytes, what its preflight refuses by) against the
peak it measures, for both pixel engines at large sizes: 1024², 2048² and 4096², 2 and 120 frames, the whole picture
moving (the most a flow can move). Target: 1.0 ≤ estimate ÷ measured ≤ 1.3 — never below the real peak, never so far
above it that the preflight refuses work the machine can do.

Run: ``.venv/bin/python benchmarks/animate_memory.py`` (``--sizes 1024 --frames 2`` for one quick case). The large
cases take minutes each on a small machine, which is why the test suite checks only small ones
(tests/comfy/test_animate_memory_peak.py). Each case runs in a fresh interpreter (tests/fixtures/peak_memory.py) so
peaks never mix; a case the memory free now cannot hold is refused by the preflight before any frame is allocated,
and is printed as refused. Needs the README's set-up (.comfyui/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))

from peak_memory import ENGINES, TARGET, measure_animate  # noqa: E402


def row(engine: str, size: int, frames: int, result: dict) -> str:
    """One line of the table: estimate, measured peak and their ratio (or the preflight's refusal)."""
    head = f"{engine:14} {size:>5}² {frames:>6} {result['estimate'] / 1e9:>8.2f}GB"
    if "refused" in result:
        return f"{head} {'refused':>10}"
    return f"{head} {result['peak'] / 1e9:>8.2f}GB {result['estimate'] / result['peak']:>6.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--frames", type=int, nargs="+", default=[2, 120])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    args = parser.parse_args()
    print(f"{'engine':14} {'size':>6} {'frames':>6} {'estimate':>10} {'measured':>10} {'ratio':>6}", flush=True)
    failed = 0
    for engine in args.engines:
        for size in args.sizes:
            for frames in args.frames:
                result = measure_animate(engine, size, frames)
                print(row(engine, size, frames, result), flush=True)
                ratio = result["estimate"] / result["peak"] if "peak" in result else None
                failed += ratio is not None and not TARGET[0] <= ratio <= TARGET[1]
    print(f"targets: {TARGET[0]} ≤ estimate ÷ measured ≤ {TARGET[1]}: "
          + ("met" if not failed else f"{failed} case(s) outside"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
