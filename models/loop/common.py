"""What both pixel engines need: their shared input checks, the bounding box of a mask, bilinear reads."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..checks import check_int
from ..flow.ops import validate_flow, validate_nchw


def check_loop_inputs(image: torch.Tensor, flow: torch.Tensor, n_frames: int) -> None:
    """image [B, 3, H, W], flow [B|1, 2, H, W] of the same size on the same device, n_frames ≥ 1."""
    validate_nchw(image, "image", channels=3)
    validate_flow(flow)
    if flow.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"flow size {list(flow.shape[-2:])} must match image size {list(image.shape[-2:])}; "
            "resize it first (models.flow.ops.resize_flow)"
        )
    if flow.shape[0] not in (1, image.shape[0]):
        raise ValueError(
            f"flow batch ({flow.shape[0]}) must be 1 or match the image batch ({image.shape[0]})"
        )
    if flow.device != image.device:
        raise ValueError(f"image ({image.device}) and flow ({flow.device}) must be on the same device")
    check_int(n_frames, "n_frames", 1)


def bounding_box(mask: torch.Tensor, margin: int) -> tuple[slice, slice]:
    """Rows and columns of the True pixels of ``mask`` [H, W], grown by ``margin`` and clipped; empty if none."""
    rows = mask.any(dim=1).nonzero().squeeze(1)
    cols = mask.any(dim=0).nonzero().squeeze(1)
    if rows.numel() == 0:
        return slice(0, 0), slice(0, 0)
    height, width = mask.shape
    return (
        slice(max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)),
        slice(max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin)),
    )


def bilinear(x: torch.Tensor, y: torch.Tensor, height: int, width: int,
             tap: Callable[[torch.Tensor], torch.Tensor], dim: int = -1) -> torch.Tensor:
    """Bilinear interpolation at in-range positions ``x``, ``y``; ``tap(flat index)`` reads the four corners and
    ``dim`` is where its result keeps the channels (the weights broadcast over it). The one bilinear read of the
    loop stage: Euler steps' flow lookups, the sharp loop's low band and its plan's grid."""
    x0, y0 = x.floor(), y.floor()
    fx, fy = (x - x0).unsqueeze(dim), (y - y0).unsqueeze(dim)
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1).clamp(max=width - 1), (y0 + 1).clamp(max=height - 1)
    top = torch.lerp(tap(y0 * width + x0), tap(y0 * width + x1), fx)
    return torch.lerp(top, torch.lerp(tap(y1 * width + x0), tap(y1 * width + x1), fx), fy)
