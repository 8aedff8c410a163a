"""Input checks shared by every stage, and one exception type per kind of mistake.

Each check names the input the way the caller knows it (``name``), says what was expected and what came instead,
and returns the checked value so calls can be chained. The exceptions subclass the built-in ones a caller would
catch for that mistake:

* :class:`InputTypeError` — a value of the wrong kind (a string where a number belongs, a list for a tensor);
* :class:`InputValueError` — the right kind with an unusable value (out of range, NaN, empty);
* :class:`InputShapeError` — a tensor or pair of the wrong shape or size.

``InputTypeError`` is also a ``ValueError``: a wrong kind of value is a bad value too, so code that guards a call
with ``except ValueError`` keeps catching it, whichever of the two a check raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


class InputTypeError(TypeError, ValueError):
    """An input is of the wrong kind."""


class InputValueError(ValueError):
    """An input has the right kind but an unusable value."""


class InputShapeError(ValueError):
    """A tensor (or size) input has the wrong shape."""


def is_number(value: object) -> bool:
    """A real, finite int or float (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_string(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InputTypeError(f"{name} must be a string, got {type(value).__name__}")
    return value


def check_number(value: object, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 expected: str = "a finite number", kind_error: bool = False) -> float:
    """A finite number in [``minimum``, ``maximum``] (either bound optional); ``expected`` words the message ("a
    finite number of degrees", "a fraction"), followed by the bounds. A value of the wrong kind raises
    :class:`InputTypeError` when ``kind_error``, else :class:`InputValueError` with the same words (for inputs whose
    callers have always been told "must be a finite number")."""
    bounds = ("" if minimum is None and maximum is None else f" >= {minimum:g}" if maximum is None
              else f" <= {maximum:g}" if minimum is None else f" in [{minimum:g}, {maximum:g}]")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        error = InputTypeError if kind_error else InputValueError
        raise error(f"{name} must be {expected}{bounds}, got {type(value).__name__} {value!r}")
    if (not math.isfinite(value) or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)):
        raise InputValueError(f"{name} must be {expected}{bounds}, got {value}")
    return float(value)


def check_int(value: object, name: str, minimum: int) -> int:
    """An int ≥ ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_size(value: object, name: str) -> tuple[int, int]:
    """A (height, width) pair of positive ints."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise InputTypeError(f"{name} must be a pair of ints (height, width), got {value!r}")
    if value[0] <= 0 or value[1] <= 0:
        raise InputValueError(f"{name} must be positive, got {tuple(value)}")
    return int(value[0]), int(value[1])


def check_tensor(value: object, name: str, expected: str = "a torch.Tensor") -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise InputTypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return value


def check_nchw(tensor: torch.Tensor, name: str, channels: int | None = None) -> torch.Tensor:
    """A finite floating-point [B, C, H, W] tensor with no empty dimension (and ``channels`` channels if given)."""
    check_tensor(tensor, name)
    if tensor.dim() != 4:
        expected = f"[B, {channels}, H, W]" if channels is not None else "[B, C, H, W]"
        raise InputShapeError(f"{name} must have shape {expected}, got {list(tensor.shape)}")
    if channels is not None and tensor.shape[1] != channels:
        raise InputShapeError(f"{name} must have {channels} channels (dim 1), got shape {list(tensor.shape)}")
    if min(tensor.shape) == 0:
        raise InputShapeError(f"{name} must not be empty, got shape {list(tensor.shape)}")
    if not tensor.is_floating_point():
        raise InputTypeError(
            f"{name} must be a floating-point tensor (float32), got {tensor.dtype}; convert with .float()"
        )
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        kinds = []
        if bool(torch.isnan(tensor).any()):
            kinds.append("NaN")
        if bool(torch.isinf(tensor).any()):
            kinds.append("inf")
        raise InputValueError(
            f"{name} contains {' and '.join(kinds)} values ({int((~finite).sum())} entries); "
            "fix the node that produced it, or replace them (e.g. torch.nan_to_num)"
        )
    return tensor


def check_flow(flow: torch.Tensor, name: str = "flow") -> torch.Tensor:
    """A finite floating-point [B, 2, H, W] flow in px/frame (T2C_FLOW's tensor)."""
    return check_nchw(flow, name, channels=2)


def check_mask(mask: object, name: str) -> torch.Tensor:
    """A mask as float32 [B, 1, H, W] in 0..1, from any layout a user can send: [H, W] (one mask), [B, H, W]
    (ComfyUI's MASK) or [B, 1, H, W]; bool or floating point. Every stage reads masks through this one check, so a
    mask that one node takes is taken by all."""
    check_tensor(mask, name)
    shape = list(mask.shape)
    mask = mask[None, None] if mask.dim() == 2 else mask[:, None] if mask.dim() == 3 else mask
    if mask.dim() != 4 or mask.shape[1] != 1 or min(mask.shape) == 0:
        raise InputShapeError(f"{name} must have shape [H, W], [B, H, W] or [B, 1, H, W] with no empty dimension, "
                              f"got {shape}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise InputTypeError(f"{name} must be bool or float in 0..1, got {mask.dtype} (divide a 0..255 mask by 255)")
    mask = mask.float()
    low, high = (float(v) for v in torch.aminmax(mask))  # one pass; NaN and inf show in the extremes
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputValueError(f"{name} contains NaN or infinite values where it must be in 0..1: fix the node that "
                              "produced it")
    if low < 0 or high > 1:
        raise InputValueError(f"{name} values must be in 0..1, got {low:g}..{high:g} (divide a 0..255 mask by 255)")
    return mask


def check_companion(tensor: torch.Tensor, name: str, reference: torch.Tensor, channels: int) -> torch.Tensor:
    """A [B|1, ``channels``, H, W] tensor that goes with ``reference`` [B, ·, H, W]: the same size, and batch 1 or
    the reference's."""
    check_nchw(tensor, name, channels=channels)
    batch, _, height, width = reference.shape
    if tensor.shape[-2:] != reference.shape[-2:] or tensor.shape[0] not in (1, batch):
        raise InputShapeError(f"{name} must have shape [B|1, {channels}, H, W] = {batch}|1, {channels}, {height}, "
                              f"{width} matching the image; got {list(tensor.shape)}")
    return tensor


FINITE_CHECK_CHUNK = 4 * 2**20
"""Bytes of output :func:`check_finite_output` checks at once (at least one item). ``torch.isfinite`` allocates about
1.5× its input in temporaries (a float |x| and boolean masks): 64 MiB chunks added ~100 MB to the peak of a small
loop — more than its whole working set — and 4 MiB chunks check at least as fast (they stay in cache)."""


def check_finite_output(tensor: torch.Tensor, what: str, causes: str, chunk_bytes: int = FINITE_CHECK_CHUNK,
                        on_chunk: Callable[[], None] | None = None) -> torch.Tensor:
    """Raise :class:`InputValueError` when an engine's output holds NaN or infinite values, so garbage is never
    handed on as a success. ``what`` names the node or engine, ``causes`` the likely causes and fixes. Checked in
    chunks of items along dim 0, a video [B, T, H, W, C] by frame (no full-size temporary); ``on_chunk()`` runs after
    each (a long video takes seconds: an exception it raises, e.g. Cancel, stops the check)."""
    items = tensor.flatten(0, tensor.dim() - 4) if tensor.dim() > 4 else tensor
    per_item = max(1, items[:1].numel() * 4)
    for chunk in items.split(max(1, chunk_bytes // per_item)):
        if not torch.isfinite(chunk).all():
            raise InputValueError(f"{what} produced NaN or infinite values — {causes}")
        if on_chunk is not None:
            on_chunk()
    return tensor
