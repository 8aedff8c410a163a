"""One way to check inputs: models/, nodes/ and sampling/ raise the Input* types of ``models/checks.py``, never a
bare ``ValueError``/``TypeError`` (a lint over the source, so a new bare raise fails here), and read masks through
its one normaliser."""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT

import models.checks as checks

CHECKED_FOLDERS = ("models", "nodes", "sampling")
BARE = {"ValueError", "TypeError"}

ALLOWED: dict[str, str] = {
    # "folder/file.py:function": "why this raise is not a refusal of user input",
    # None today: every ValueError/TypeError in these folders refuses an input. Invariants a caller cannot break
    # (e.g. models/io/encoding.py _FramesOnDemand.seek) raise RuntimeError instead.
}
"""Bare raises kept on purpose, keyed by file and enclosing function, each with its reason."""


def bare_raises(source: str, filename: str) -> list[str]:
    """``file:function:line`` of every ``raise ValueError``/``raise TypeError`` (called or not) in ``source``."""
    found = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Raise) and child.exc is not None:
                raised = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                if isinstance(raised, ast.Name) and raised.id in BARE:
                    found.append(f"{filename}:{function}:{child.lineno}")
            visit(child, inner)

    visit(ast.parse(source, filename), "<module>")
    return found


def _source_files() -> list[Path]:
    return sorted(path for folder in CHECKED_FOLDERS for path in (REPO_ROOT / folder).rglob("*.py"))


def test_no_bare_value_or_type_error_outside_the_allow_list():
    hits = [hit for path in _source_files()
            for hit in bare_raises(path.read_text(encoding="utf-8"), path.relative_to(REPO_ROOT).as_posix())]
    places = {hit.rsplit(":", 1)[0] for hit in hits}
    offenders = [hit for hit in hits if hit.rsplit(":", 1)[0] not in ALLOWED]
    assert not offenders, ("raise models.checks.InputTypeError / InputValueError / InputShapeError instead (or add "
                           f"the place to ALLOWED with its reason): {offenders}")
    assert places >= set(ALLOWED), f"stale ALLOWED entries: {sorted(set(ALLOWED) - places)}"


def test_the_lint_reads_every_folder():
    names = {path.relative_to(REPO_ROOT).parts[0] for path in _source_files()}
    assert names == set(CHECKED_FOLDERS)
    assert len(_source_files()) > 30


def test_the_lint_catches_bare_raises_and_passes_the_input_types():
    source = (
        "def load(x):\n"
        "    if x is None:\n"
        "        raise ValueError('x is missing')\n"
        "    def inner():\n"
        "        raise TypeError\n"
        "    raise InputValueError('fine')\n"
        "raise InputTypeError('fine too')\n"
    )
    assert bare_raises(source, "m.py") == ["m.py:load:3", "m.py:inner:5"]


@pytest.mark.parametrize(("kind", "builtin"), [(checks.InputTypeError, TypeError), (checks.InputValueError, ValueError),
                                               (checks.InputShapeError, ValueError)])
def test_input_types_are_caught_as_the_builtin_they_replace(kind, builtin):
    with pytest.raises(builtin):
        raise kind("x")
    with pytest.raises(ValueError):
        raise kind("x")


@pytest.mark.parametrize(("shape", "batch"), [((16, 24), 1), ((2, 16, 24), 2), ((2, 1, 16, 24), 2)])
@pytest.mark.parametrize("dtype", [torch.bool, torch.float16, torch.float64])
def test_check_mask_takes_every_layout_a_user_sends(shape, batch, dtype):
    mask = torch.zeros(shape, dtype=dtype)
    mask[..., 3:9, 5:11] = 1
    out = checks.check_mask(mask, "mask")
    assert out.shape == (batch, 1, 16, 24) and out.dtype == torch.float32
    assert out.sum() == batch * 36 and out[:, 0, 3:9, 5:11].all()


@pytest.mark.parametrize(
    ("mask", "error", "problem"),
    [
        (torch.ones(2, 3, 16, 16), checks.InputShapeError, r"Animate `mask` must have shape \[H, W\], \[B, H, W\]"),
        (torch.ones(16), checks.InputShapeError, "shape"),
        (torch.ones(1, 0, 4), checks.InputShapeError, "no empty dimension"),
        (torch.ones(1, 4, 4, dtype=torch.uint8), checks.InputTypeError, "bool or float in 0..1, got torch.uint8"),
        (torch.full((4, 4), float("nan")), checks.InputValueError, "NaN or infinite"),
        (torch.tensor([[0.0, float("-inf")]]), checks.InputValueError, "NaN or infinite"),
        (torch.full((4, 4), 255.0), checks.InputValueError, r"in 0..1, got 255..255 \(divide a 0..255 mask by 255\)"),
        (torch.full((4, 4), -0.5), checks.InputValueError, "in 0..1"),
        (np.ones((4, 4)), checks.InputTypeError, "Animate `mask` must be a torch.Tensor"),
    ],
)
def test_check_mask_refuses_the_rest_naming_the_input(mask, error, problem):
    with pytest.raises(error, match=problem):
        checks.check_mask(mask, "Animate `mask`")


@pytest.mark.parametrize(
    ("value", "kwargs", "problem"),
    [
        (1.5, {"minimum": 0.0, "maximum": 1.0, "expected": "a fraction"}, r"x must be a fraction in \[0, 1\], got 1.5"),
        (-1, {"minimum": 0.0}, "x must be a finite number >= 0, got -1"),
        (7, {"maximum": 5.0}, "x must be a finite number <= 5, got 7"),
        (float("nan"), {"minimum": 0.0, "maximum": 1.0}, r"in \[0, 1\], got nan"),
        ("0.5", {"minimum": 0.0, "maximum": 1.0}, r"in \[0, 1\], got str '0.5'"),
        (True, {}, "got bool True"),
    ],
)
def test_check_number_names_the_input_and_its_bounds(value, kwargs, problem):
    with pytest.raises(checks.InputValueError, match=problem):
        checks.check_number(value, "x", **kwargs)


def test_check_number_takes_the_bounds_themselves():
    assert checks.check_number(0, "x", minimum=0.0, maximum=1.0) == 0.0
    assert checks.check_number(1, "x", minimum=0.0, maximum=1.0) == 1.0
