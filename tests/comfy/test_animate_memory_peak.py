"""Issue 22, item 1: Animate's memory estimate holds each engine's measured peak and is never far above it. It
measures our engines, not ComfyUI, so only the oldest leg runs it (tests/comfy/conftest.py). The sizes here are the
ones a test can afford; benchmarks/animate_memory.py measures the same at 1024², 2048² and 4096² (minutes a case)."""

import pytest
from peak_memory import ENGINES, TARGET, measure_animate

PEAK_CASES = [(engine, size, frames) for engine in ENGINES for size in (256, 512) for frames in (2, 120)]


@pytest.mark.parametrize(("engine", "size", "frames"), PEAK_CASES, ids=[f"{e}-{s}-{n}" for e, s, n in PEAK_CASES])
def test_the_animate_estimate_holds_the_measured_peak(memory_module, engine, size, frames):
    """Each case runs in a fresh interpreter so peaks never mix; the estimate is the node's own."""
    measured = measure_animate(engine, size, frames, timeout=600)
    assert measured["estimate"] == memory_module.animate_bytes(1, frames, size, size, engine)
    assert "refused" not in measured, f"a {size}² run must fit this machine: {measured['refused']}"
    ratio = measured["estimate"] / measured["peak"]
    assert TARGET[0] <= ratio <= TARGET[1], (f"{engine} {size}² × {frames}: estimate {measured['estimate'] / 1e6:.0f}"
                                             f" MB, measured {measured['peak'] / 1e6:.0f} MB (ratio {ratio:.2f})")
