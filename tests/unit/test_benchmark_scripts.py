"""The quick modes of the pure-torch benchmarks still run and print their figures (so the scripts cannot rot).

Only figures are printed, never judged here: speed targets are read off full benchmark runs, not timed tests.
The ComfyUI benchmarks (twin, networks) take minutes even in --quick mode and are run by hand.
"""

import subprocess
import sys

import pytest
from conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("animate.py", ["--quick"], ["÷splat", "speed-up", "targets:"]),
        ("loop_quality.py", ["--quick"], ["contrast", "coher.", "sharp", "classic", "targets:"]),
        ("region_mask.py", ["--repeats", "1", "--seeds", "1"], ["spectral", "ARI"]),
        ("save_formats.py", ["--quick"], ["live photo", "÷ mp4", "targets:"]),
    ],
)
def test_quick_benchmark_prints_its_table(script, args, expected):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / script), *args], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for word in expected:
        assert word in result.stdout, result.stdout


def test_loop_quality_reports_each_figure_s_worst_seed_and_spread():
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import loop_quality

    def row(seed, contrast, pop, line, bias, static):
        return {"scene": "lake", "engine": "layers", "seed": seed, "contrast": contrast, "coherence": 0.9,
                "pop": pop, "seam": 1.0, "line": line, "bias": bias, "static": static, "frame0": True, "ms": 1.0,
                "splats": 1.0, "travel": 80.0}

    rows = [row(0, 0.95, 1.2, float("nan"), 12.0, True), row(1, 0.80, 1.6, 1.3, -20.0, False),
            row(2, 0.90, 1.1, 1.1, 5.0, True)]
    ((worst, spread),) = loop_quality.summarise(rows)
    assert (worst["contrast"], worst["pop"], worst["line"]) == (0.80, 1.6, 1.3)  # min contrast, max pop and line
    assert worst["bias"] == -20.0  # the signed bias by its size
    assert spread["contrast"] == pytest.approx(0.15) and spread["line"] == pytest.approx(0.2)  # nan left out
    assert worst["static"] is False and worst["frame0"] is True  # exact only if every seed was
    assert "layers worst" in loop_quality.row_line(worst, " worst")
