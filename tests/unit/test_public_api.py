"""The public names the issues promise are importable from ``models`` with only the repo root on sys.path."""

import subprocess
import sys

from conftest import REPO_ROOT


def _run_plain_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter from the repository root (no pytest, no ComfyUI) and return stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_public_names_import_from_a_plain_interpreter():
    code = (
        "from models import euler_integrate, softsplat, render_loop, TextFlowNet, HintFlowNet, SplatVideoNet\n"
        "import torch\n"
        "flow = torch.zeros(1, 2, 4, 5)\n"
        "flow[:, 0] = 1.0\n"
        "disp = euler_integrate(flow, 2)\n"
        "out = softsplat(torch.ones(1, 3, 4, 5), disp)\n"
        "print(tuple(disp.shape), tuple(out.shape), sum(p.numel() for p in HintFlowNet().parameters()) > 0)\n"
    )
    stdout = _run_plain_python(code)
    assert stdout.split() == ["(1,", "2,", "4,", "5)", "(1,", "3,", "4,", "5)", "True"]


def test_models_never_import_comfyui():
    code = (
        "import importlib, pkgutil, sys, models\n"
        "for info in pkgutil.walk_packages(models.__path__, 'models.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'comfy', 'folder_paths', 'comfy_api'}))\n"
    )
    stdout = _run_plain_python(code)
    assert stdout.strip() == "[]"
