"""Issue 22, item 1: Animate's memory estimate holds each engine's measured peak and is never far above it. It
measures our engines, not ComfyUI, so only the oldest leg runs it (tests/comfy/conftest.py). The sizes here are the
ones a test can afford; benchmarks/animate_memory.py measures the same at 1024², 2048² and 4096² (minutes a case).
Issue 19: the same for a stack of motion layers that all pass behind still blocks (the most a stack holds)."""

import importlib

import pytest
import torch
from peak_memory import ENGINES, TARGET, behind_stack, measure_animate

pytestmark = pytest.mark.quiet  # measured alone: at the end of the leg, after the other leg
PEAK_CASES = [(engine, size, frames, 0) for engine in ENGINES for size in (256, 512) for frames in (2, 120)]
PEAK_CASES += [(ENGINES[0], 256, 60, 3)]


@pytest.mark.parametrize(("engine", "size", "frames", "layers"), PEAK_CASES,
                         ids=[f"{e}-{s}-{n}" + (f"-{k}-behind-layers" if k else "") for e, s, n, k in PEAK_CASES])
def test_the_animate_estimate_holds_the_measured_peak(memory_module, t2c_pack, engine, size, frames, layers):
    """Each case runs in a fresh interpreter so peaks never mix; the estimate is the node's own."""
    measured = measure_animate(engine, size, frames, timeout=600, layers=layers)
    flow = torch.zeros(1, 2, size, size)
    if layers:
        flow = behind_stack(importlib.import_module(f"{t2c_pack.__name__}.models.flow.layers"), flow, layers)
    assert measured["estimate"] == memory_module.animate_bytes(1, frames, size, size, engine,
                                                               memory_module.rendered_layers(flow, engine))
    assert "refused" not in measured, f"a {size}² run must fit this machine: {measured['refused']}"
    ratio = measured["estimate"] / measured["peak"]
    assert TARGET[0] <= ratio <= TARGET[1], (f"{engine} {size}² × {frames}, {layers} layers: estimate "
                                             f"{measured['estimate'] / 1e6:.0f} MB, measured "
                                             f"{measured['peak'] / 1e6:.0f} MB (ratio {ratio:.2f})")
