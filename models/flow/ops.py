"""Flow-field preparation shared by the animators: validation, resizing, clamping and masking.

A flow is a float tensor [B, 2, H, W] in pixels per frame; channel 0 = x (right), channel 1 = y (down).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RESIZE_MODES = ("bilinear", "nearest")


def validate_nchw(tensor: torch.Tensor, name: str, channels: int | None = None) -> None:
    """Raise a clear error unless ``tensor`` is a finite floating-point [B, C, H, W] tensor."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != 4:
        expected = f"[B, {channels}, H, W]" if channels is not None else "[B, C, H, W]"
        raise ValueError(f"{name} must have shape {expected}, got {list(tensor.shape)}")
    if channels is not None and tensor.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels (dim 1), got shape {list(tensor.shape)}")
    if min(tensor.shape) == 0:
        raise ValueError(f"{name} must not be empty, got shape {list(tensor.shape)}")
    if not tensor.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float32), got {tensor.dtype}; convert with .float()"
        )
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        kinds = []
        if bool(torch.isnan(tensor).any()):
            kinds.append("NaN")
        if bool(torch.isinf(tensor).any()):
            kinds.append("inf")
        raise ValueError(
            f"{name} contains {' and '.join(kinds)} values ({int((~finite).sum())} entries); "
            "replace them (e.g. torch.nan_to_num) before animating"
        )


def validate_flow(flow: torch.Tensor, name: str = "flow") -> None:
    """Raise a clear error unless ``flow`` is a finite floating-point [B, 2, H, W] tensor."""
    validate_nchw(flow, name, channels=2)


def _validate_size(size: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise ValueError(f"size must be a pair of positive ints (H, W), got {size!r}")
    return int(size[0]), int(size[1])


def resize_flow(flow: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize a flow to ``size`` = (H, W) and rescale its vectors so they stay in pixels of the new grid.

    The x component is multiplied by W / w and the y component by H / h (a vector of 1 px on a 256-wide
    grid is 2 px on a 512-wide one). ``bilinear`` (align_corners=False, no antialias) gives smooth motion;
    ``nearest`` is what the official video pipeline uses before its network.
    """
    validate_flow(flow)
    height, width = _validate_size(size)
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}")
    src_h, src_w = flow.shape[-2:]
    if (src_h, src_w) == (height, width):
        return flow.clone()
    if mode == "bilinear":
        resized = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    else:
        resized = F.interpolate(flow, size=(height, width), mode="nearest")
    scale = torch.tensor([width / src_w, height / src_h], dtype=flow.dtype, device=flow.device)
    return resized * scale.view(1, 2, 1, 1)


def clamp_flow(flow: torch.Tensor, max_px: float) -> torch.Tensor:
    """Clamp each component to [-max_px, max_px], as the official pipeline does before applying ``speed``."""
    validate_flow(flow)
    if isinstance(max_px, bool) or not isinstance(max_px, (int, float)) or not max_px >= 0:
        raise ValueError(f"max_px must be a number >= 0, got {max_px!r}")
    return flow.clamp(-float(max_px), float(max_px))


def mask_flow(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Multiply a flow by a 0..1 mask ([B|1, 1, h, w] or [B|1, h, w]), bilinearly resized to the flow's size.

    Soft mask edges give soft flow edges, so content slows down near the region border instead of
    stopping abruptly.
    """
    validate_flow(flow)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    validate_nchw(mask, "mask", channels=1)
    if mask.shape[0] not in (1, flow.shape[0]) and flow.shape[0] != 1:
        raise ValueError(f"mask batch ({mask.shape[0]}) must be 1 or match the flow batch ({flow.shape[0]})")
    mask = mask.to(device=flow.device, dtype=flow.dtype)
    if mask.shape[-2:] != flow.shape[-2:]:
        mask = F.interpolate(mask, size=tuple(flow.shape[-2:]), mode="bilinear", align_corners=False)
    return flow * mask
