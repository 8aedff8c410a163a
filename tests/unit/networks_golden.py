"""Helpers shared by the tests of models/networks: golden files, the golden fill, intermediate capture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file

from golden_fill import FILL_SLACK, golden_fill_

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
FLOAT32_EPS = torch.finfo(torch.float32).eps


def load_golden(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(GOLDEN_DIR / f"{name}.safetensors"))


def manifest(official_name: str) -> dict:
    return json.loads((GOLDEN_DIR / f"manifest_{official_name}.json").read_text())


def filled(network_class: type[torch.nn.Module], official_name: str) -> torch.nn.Module:
    """The network built on the meta device and golden-filled (exact shipped u/v where they exist)."""
    with torch.device("meta"):
        network = network_class()
    sn_path = GOLDEN_DIR / f"sn_vectors_{official_name}.safetensors"
    sn_vectors = load_file(str(sn_path)) if sn_path.exists() else None
    return golden_fill_(network, sn_vectors)


def assert_matches_fill_check(network: torch.nn.Module, official_name: str) -> None:
    """Every filled entry has the float64 sum, |sum| and first three values recorded by the golden run, within
    FILL_SLACK float32 roundings of the entry's mean |value| (the golden run's float32 transform; golden_fill)."""
    entries = json.loads((GOLDEN_DIR / f"fill_check_{official_name}.json").read_text())["entries"]
    state = network.state_dict()
    assert [e[0] for e in entries] == list(state)
    for key, total, total_abs, first in entries:
        tensor = state[key]
        rounding = FILL_SLACK * FLOAT32_EPS
        tolerance = rounding * max(total_abs / tensor.numel(), 1e-30)
        assert max_error(tensor.flatten()[:3], torch.tensor(first)) <= tolerance, key
        assert abs(tensor.sum(dtype=torch.float64).item() - total) <= rounding * total_abs + 1e-12, key
        assert abs(tensor.abs().sum(dtype=torch.float64).item() - total_abs) <= rounding * total_abs + 1e-12, key


def capture_outputs(network: torch.nn.Module, names: list[str]) -> tuple[dict[str, torch.Tensor], list]:
    """Forward hooks storing the output of each named submodule; returns (storage, handles)."""
    captured: dict[str, torch.Tensor] = {}
    handles = [
        network.get_submodule(name).register_forward_hook(
            lambda _module, _args, output, name=name: captured.__setitem__(name, output)
        )
        for name in names
    ]
    return captured, handles


@contextmanager
def one_entry_off(network: torch.nn.Module, key: str, factor: float = 1.01) -> Iterator[None]:
    """A real defect for the tests of the golden tests: one state-dict entry scaled by 1 % (a bias: scaling a
    spectral-normed weight changes nothing), restored afterwards."""
    entry = network.state_dict()[key]
    saved = entry.clone()
    with torch.no_grad():
        entry.mul_(factor)
    try:
        yield
    finally:
        with torch.no_grad():
            entry.copy_(saved)


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape
    return (actual.double() - expected.double()).abs().max().item()


KERNEL_SLACK = 2**10
"""How many float32 roundings of the largest magnitude two forwards of one network may differ by when the kernels
differ (oneDNN picks other kernels per batch size and CPU): generous for the accumulation through the layers."""


def kernel_tolerance(*references: torch.Tensor, slack: float = KERNEL_SLACK) -> float:
    """Tolerance for comparing two float32 computations of the same values that may take other kernels: derived
    from the largest magnitude involved, so it holds on any CPU and for any output scale."""
    scale = max(reference.detach().abs().max().item() for reference in references)
    return FLOAT32_EPS * slack * max(scale, 1e-30)
