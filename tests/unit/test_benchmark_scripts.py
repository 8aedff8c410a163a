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
