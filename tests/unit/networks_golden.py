"""Helpers shared by the tests of models/networks: golden files, the golden fill, intermediate capture."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from golden_fill import golden_fill_

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"


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
    """Every filled entry has the float64 sum, |sum| and first three values recorded by the golden run."""
    entries = json.loads((GOLDEN_DIR / f"fill_check_{official_name}.json").read_text())["entries"]
    state = network.state_dict()
    assert [e[0] for e in entries] == list(state)
    for key, total, total_abs, first in entries:
        tensor = state[key]
        assert tensor.flatten()[:3].tolist() == first, key
        tolerance = 1e-6 * max(1.0, total_abs)
        assert abs(tensor.sum(dtype=torch.float64).item() - total) <= tolerance, key
        assert abs(tensor.abs().sum(dtype=torch.float64).item() - total_abs) <= tolerance, key


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


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    assert actual.shape == expected.shape
    return (actual.double() - expected.double()).abs().max().item()
