"""Safe, strict loading of the official generator checkpoints (``latest_net_G.pth``) and their .safetensors.

* ``.pth``/``.pt``/``.ckpt`` are read with ``torch.load(weights_only=True)`` only: a pickle that wants to
  build anything but tensors is refused before any of its code can run. ``.safetensors`` never runs code.
* A ``module.`` (DataParallel) or ``netG.`` prefix on every key is stripped.
* Which network a file holds is detected from its keys, and it is loaded with ``strict=True``; anything
  missing, unexpected or of the wrong shape is a ``ValueError`` naming the file and the first offenders
  (the official loader silently falls back to a partial load, docs/networks.md#checkpoint-loading).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..checks import InputValueError
from .blocks import InferenceNetwork
from .hint_flow import HintFlowNet
from .splat_video import SplatVideoNet
from .text_flow import TextFlowNet

NETWORKS: dict[str, type[InferenceNetwork]] = {
    "text_flow": TextFlowNet,
    "hint_flow": HintFlowNet,
    "splat_video": SplatVideoNet,
}
OFFICIAL_NAMES = {"text_flow": "spadexattnunetsd", "hint_flow": "spadeunet", "splat_video": "spadeunet4softmaxsplating"}
FLOW_NETWORKS = ("text_flow", "hint_flow")
STRIPPED_PREFIXES = ("module.", "netG.")
_SHOWN = 5  # offending keys listed per category in an error message
MAX_HEADER_BYTES = 8 * 2**20
"""Largest .safetensors header read: the official networks' are under 0.2 MB; a file declaring more is refused
before its header is parsed (a 53 MB one took 11 s and 650 MB and could not be cancelled)."""
ZIP_SLACK_BYTES = 2**20
"""A .pth (a zip written by torch.save, entries stored) unpacks to its own size; more than this beyond it is
refused before torch.load inflates anything (a 1 MB zip bomb inflated 1 GiB in memory)."""


def _describe(kind: str) -> str:
    return f"{kind} ({OFFICIAL_NAMES[kind]})"


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a {name: tensor} dict on the CPU, without executing any code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    _check_declared_sizes(path)
    try:
        if path.suffix.lower() == ".safetensors":
            loaded = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise InputValueError(
            f"{path}: cannot be read as a safe checkpoint: it pickles objects other than tensors, so it was "
            "refused before any of its code could run (torch.load weights_only=True). Only plain state dicts of "
            "tensors (torch.save(net.state_dict())) and .safetensors files are accepted"
        ) from error
    except Exception as error:  # corrupt or truncated file
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputValueError(
            f"{path}: cannot be read as a safe checkpoint ({type(error).__name__}: {detail}); "
            "re-download the file if it is truncated"
        ) from error
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise InputValueError(f"{path}: expected a state dict (name → tensor), got {type(loaded).__name__}")
    not_tensors = [key for key, value in loaded.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise InputValueError(f"{path}: entries that are not tensors: {not_tensors[:_SHOWN]}")
    return dict(loaded)


def _check_declared_sizes(path: Path) -> None:
    """Refuse a file whose own header declares more to read than a checkpoint of these networks needs, before
    reading it: a .safetensors header over :data:`MAX_HEADER_BYTES`, a zip that unpacks to more than it holds."""
    size = path.stat().st_size
    fix = "it is not one of the official checkpoints: re-download checkpoints.tar, or convert the file again"
    if path.suffix.lower() == ".safetensors":
        with open(path, "rb") as file:
            declared = int.from_bytes(file.read(8), "little")
        if declared > MAX_HEADER_BYTES:  # a truncated file (declared > size) is the reader's to report
            raise InputValueError(f"{path}: its header declares {declared / 1e6:.3g} MB of tensor names (at most "
                                  f"{MAX_HEADER_BYTES / 1e6:.3g} MB are read, the file has {size / 1e6:.3g} MB): {fix}")
        return
    if not zipfile.is_zipfile(path):
        return  # a legacy (non-zip) torch file: read in place, nothing to inflate
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # torch.load reports it
    if unpacked > size + ZIP_SLACK_BYTES:
        raise InputValueError(f"{path}: unpacks to {unpacked / 1e6:.3g} MB from {size / 1e6:.3g} MB (torch.save "
                              f"stores its tensors unpacked, so a checkpoint unpacks to about its size): {fix}")


def strip_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove a ``module.`` / ``netG.`` prefix shared by every key (repeatedly, e.g. ``module.netG.``)."""
    entries = dict(state_dict)
    stripped = True
    while entries and stripped:
        stripped = False
        for prefix in STRIPPED_PREFIXES:
            if all(key.startswith(prefix) for key in entries):
                entries = {key[len(prefix) :]: value for key, value in entries.items()}
                stripped = True
    return entries


def detect_network(state_dict: Mapping[str, torch.Tensor], source: str = "state dict") -> str:
    """Which generator the keys belong to: ``"text_flow"``, ``"hint_flow"`` or ``"splat_video"``.

    Only names and shapes are looked at (meta tensors work); a ``module.``/``netG.`` prefix is ignored.
    """
    state_dict = strip_prefixes(state_dict)
    keys = list(state_dict)
    if any(key.startswith(("encoder.gblocks.", "projector.eblocks.")) for key in keys):
        return "splat_video"
    if any(key.startswith("attn_") for key in keys):
        return "text_flow"
    conv1 = state_dict.get("conv1.weight_orig")
    if conv1 is not None and conv1.dim() == 4 and conv1.shape[1] == HintFlowNet.INPUT_CHANNELS:
        return "hint_flow"
    conv1 = state_dict.get("conv1.weight")
    if conv1 is not None and conv1.dim() == 4 and conv1.shape[1] == TextFlowNet.INPUT_CHANNELS:
        return "text_flow"
    raise InputValueError(
        f"{source}: not a Text2Cinemagraph generator (expected spadexattnunetsd, spadeunet or "
        f"spadeunet4softmaxsplating keys); first keys: {keys[:_SHOWN]}"
    )


def expected_shapes(kind: str) -> dict[str, tuple[int, ...]]:
    """Key → shape of the official state dict of network ``kind`` (built on the meta device: no memory)."""
    with torch.device("meta"):
        network = NETWORKS[kind]()
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def _problems(state_dict: Mapping[str, torch.Tensor], kind: str) -> list[str]:
    """Missing / unexpected / mis-shaped keys of ``state_dict`` against network ``kind`` (first few each)."""
    expected = expected_shapes(kind)
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    mismatched = [
        f"{key}: expected {list(shape)}, file {list(state_dict[key].shape)}"
        for key, shape in expected.items()
        if key in state_dict and tuple(state_dict[key].shape) != shape
    ]
    return [
        f"{len(items)} {label} (first: {items[:_SHOWN]})"
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if items
    ]


def check_state_dict(state_dict: Mapping[str, torch.Tensor], kind: str, source: str = "state dict") -> None:
    """Raise a ``ValueError`` listing missing / unexpected / mis-shaped keys against network ``kind``."""
    problems = _problems(state_dict, kind)
    if problems:
        raise InputValueError(f"{source}: not a complete {_describe(kind)} checkpoint: " + "; ".join(problems))


def network_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], expect: str | tuple[str, ...] | None = None, source: str = "state dict",
    operations=None,
) -> InferenceNetwork:
    """Detect, check and strictly load a state dict into a ready ``eval()`` network without gradients.

    float32 tensors are adopted without a copy (``assign=True``: one copy of A's 1.3 GB in memory), so the
    network shares them with ``state_dict``; other floating dtypes are converted to float32 (move the network
    with ``.to(dtype)`` afterwards for another storage dtype). ``operations``: the layer namespace the network is
    built from (default torch.nn; ComfyUI's loader passes ``comfy.ops``), see ``blocks.TorchOps``.
    """
    allowed = (expect,) if isinstance(expect, str) else tuple(expect or ())
    unknown = [kind for kind in allowed if kind not in NETWORKS]
    if unknown:
        raise InputValueError(f"unknown network {unknown[0]!r}; expected one of {sorted(NETWORKS)}")
    state_dict = strip_prefixes(state_dict)
    kind = detect_network(state_dict, source)
    if allowed and kind not in allowed:
        if kind == "splat_video":
            advice = "load it with the Load Video Model node (load_video_network) and connect it to Animate"
        elif "splat_video" in allowed:
            advice = "load it with the Load Flow Model node (load_flow_network) and connect it to Text Flow"
        else:
            advice = f"pass expect={kind!r} or None"
        raise InputValueError(
            f"{source}: holds the {_describe(kind)} network ({advice}), expected "
            + " or ".join(_describe(k) for k in allowed)
            + ": "
            + "; ".join(_problems(state_dict, allowed[0]))
        )
    check_state_dict(state_dict, kind, source)
    weights = {
        key: value.float() if value.is_floating_point() and value.dtype != torch.float32 else value
        for key, value in state_dict.items()
    }
    with torch.device("meta"):
        network = NETWORKS[kind](operations=operations)
    network.load_state_dict(weights, strict=True, assign=True)
    network.requires_grad_(False)
    return network.eval()


def load_network(
    path: str | os.PathLike, expect: str | tuple[str, ...] | None = None, operations=None
) -> InferenceNetwork:
    """Load any of the three generators from ``path`` (``expect`` restricts which are accepted)."""
    return network_from_state_dict(read_state_dict(path), expect, source=str(path), operations=operations)


def load_flow_network(path: str | os.PathLike, expect: str | None = None) -> TextFlowNet | HintFlowNet:
    """Load network A (``"text_flow"``) or B (``"hint_flow"``); ``expect`` pins one of them."""
    if expect is not None and expect not in FLOW_NETWORKS:
        raise InputValueError(f"expect must be None or one of {FLOW_NETWORKS}, got {expect!r}")
    return load_network(path, expect or FLOW_NETWORKS)


def load_video_network(path: str | os.PathLike) -> SplatVideoNet:
    """Load network C (``"splat_video"``)."""
    return load_network(path, "splat_video")


def convert_to_safetensors(
    source: str | os.PathLike, target: str | os.PathLike | None = None, overwrite: bool = False
) -> Path:
    """Write a checked copy of a checkpoint as .safetensors (default: next to it); returns the new path.

    The keys are stripped of prefixes and checked strictly; the network kind is stored in the metadata.
    """
    source = Path(source)
    target = Path(target) if target is not None else source.with_suffix(".safetensors")
    if target.resolve() == source.resolve():
        raise InputValueError(f"{source}: source and target are the same file")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (--force) to replace it")
    state_dict = strip_prefixes(read_state_dict(source))
    kind = detect_network(state_dict, str(source))
    check_state_dict(state_dict, kind, str(source))
    tensors, storages = {}, set()
    for key, value in state_dict.items():
        value = value.contiguous()
        storage = value.untyped_storage().data_ptr()
        tensors[key] = value.clone() if storage in storages else value  # safetensors refuses shared memory
        storages.add(storage)
    save_file(tensors, str(target), metadata={"network": kind, "official_name": OFFICIAL_NAMES[kind]})
    return target
