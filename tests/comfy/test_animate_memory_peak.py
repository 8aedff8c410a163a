"""Issue 22, item 1: Animate's memory estimate holds each engine's measured peak and is never below it. It measures
our engines, not ComfyUI, so only the oldest leg runs it (tests/comfy/conftest.py): its large cases take minutes."""

import re
import sys

import pytest
import torch

PEAK_CASES = [(engine, size, frames) for engine in ("sharp loop", "classic splat") for size in (1024, 2048, 4096)
              for frames in (2, 120)]
_TABLE: list[str] = []


@pytest.fixture(scope="module")
def peak_table():
    """The rows of estimate against measured peak, printed after the last case (pytest -s shows them)."""
    yield _TABLE
    print("\nAnimate memory, estimate vs measured peak over the start (whole picture moving, 1 image):")
    print(f"{'engine':14} {'size':>6} {'frames':>6} {'estimate':>10} {'measured':>10} {'ratio':>6}")
    print("\n".join(_TABLE))


@pytest.mark.timeout(3600)  # 2048² × 120 frames takes minutes on a busy 2-core machine
@pytest.mark.parametrize(("engine", "size", "frames"), PEAK_CASES, ids=[f"{e}-{s}-{n}" for e, s, n in PEAK_CASES])
def test_the_animate_estimate_holds_the_measured_peak(t2c_nodes, memory_module, peak_table, engine, size, frames):
    """Each case runs in a fresh interpreter (tests/fixtures/peak_memory.py) so peaks never mix. A case this machine
    cannot hold is refused by the preflight before any frame is allocated: that refusal is what is checked then."""
    import json
    import subprocess

    import peak_memory

    estimate = memory_module.animate_bytes(1, frames, size, size, engine)
    refusal = rf"{frames} frames × {size}×{size} needs {estimate / 1e9:.1f} GB, .* GB free"
    if estimate > memory_module.HEADROOM * memory_module.free_bytes():
        with pytest.raises(ValueError, match=refusal):
            t2c_nodes["T2C_Animate"].execute(image=torch.zeros(1, size, size, 3), flow=torch.zeros(1, 2, 8, 8),
                                             frames=frames, speed=1.0, max_px_per_frame=0.0, engine=engine)
        peak_table.append(f"{engine:14} {size:>5}² {frames:>6} {estimate / 1e9:>8.2f}GB {'refused':>10}")
        return
    run = subprocess.run([sys.executable, peak_memory.__file__, engine, str(size), str(frames)],
                         capture_output=True, text=True, timeout=3500)
    assert run.returncode == 0, run.stderr[-3000:]
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    assert measured["estimate"] == estimate
    if "refused" in measured:  # other work took the memory meanwhile: refused up front, as it must be
        assert re.search(refusal, measured["refused"]), measured["refused"]
        peak_table.append(f"{engine:14} {size:>5}² {frames:>6} {estimate / 1e9:>8.2f}GB {'refused':>10}")
        return
    ratio = estimate / measured["peak"]
    peak_table.append(f"{engine:14} {size:>5}² {frames:>6} {estimate / 1e9:>8.2f}GB "
                      f"{measured['peak'] / 1e9:>8.2f}GB {ratio:>6.2f}")
    assert 1.0 <= ratio <= 1.3, f"estimate {estimate / 1e9:.2f} GB, measured {measured['peak'] / 1e9:.2f} GB"
