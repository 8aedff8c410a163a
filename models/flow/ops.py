"""The ``T2C_FLOW`` conventions in code, and the preparation of a flow for animation (docs/flow.md).

A flow is a float tensor [B, 2, H, W] in pixels per frame; channel 0 = x (right), channel 1 = y (down). Angles
are degrees counter-clockwise from +x with image y pointing down (up = 90), so θ points along (cos θ, −sin θ):
:func:`angle_vector` is the one place that says so.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..checks import InputShapeError, InputValueError, check_flow, check_mask, check_number, check_size

RESIZE_MODES = ("bilinear", "nearest")
MOTION_NORM = 64.0
"""px/frame of one unit of the official networks' flow (their flows and hints are divided by it)."""
OFFICIAL_VIDEO_CLAMP = 1.0
"""px/frame per component: the official video stage clamps the flow to this before ``speed``."""
MAX_MOTION_PX = 1e6
"""Largest flow × speed (px/frame) animated: far beyond any image, far below where the pixel engine's speed
importance overflows float32 (|v|² past 3.4e38, i.e. |v| past ~1.8e19)."""


def smoothstep(t):
    """3t² − 2t³ of ``t`` clipped to [0, 1] (a numpy array or a torch tensor, kept as it came): the one ease used
    for every fade (the flow's border and anchors, the loop's transitions)."""
    t = t.clip(0, 1)
    return t * t * (3 - 2 * t)


def angle_vector(angle: float) -> tuple[float, float]:
    """Unit flow vector (x right, y down) of an angle in degrees counter-clockwise from +x: (cos θ, −sin θ)."""
    rad = math.radians(check_number(angle, "angle", expected="a finite number of degrees", kind_error=True))
    return math.cos(rad), -math.sin(rad)


def resize_flow(flow: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize a flow to ``size`` = (H, W) and rescale its vectors so they stay in pixels of the new grid.

    The x component is multiplied by W / w and the y component by H / h (a vector of 1 px on a 256-wide
    grid is 2 px on a 512-wide one). ``bilinear`` (align_corners=False, no antialias) gives smooth motion;
    ``nearest`` is what the official video pipeline uses before its network.
    """
    check_flow(flow)
    height, width = check_size(size, "size")
    if mode not in RESIZE_MODES:
        raise InputValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}")
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
    check_flow(flow)
    max_px = check_number(max_px, "max_px", minimum=0.0)
    return flow.clamp(-max_px, max_px)


def fit_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``mask`` [B, 1, h, w] resized bilinearly to ``size`` = (H, W) (itself when it already fits): soft edges stay
    soft. The one resize of a region mask to its picture or flow."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=tuple(size), mode="bilinear", align_corners=False)


def mask_flow(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Multiply a flow by a 0..1 mask (any layout :func:`models.checks.check_mask` takes), bilinearly resized to the
    flow's size.

    Soft mask edges give soft flow edges, so content slows down near the region border instead of
    stopping abruptly.
    """
    check_flow(flow)
    mask = check_mask(mask, "mask")
    if mask.shape[0] not in (1, flow.shape[0]) and flow.shape[0] != 1:
        raise InputShapeError(f"mask batch ({mask.shape[0]}) must be 1 or match the flow batch ({flow.shape[0]})")
    mask = mask.to(device=flow.device, dtype=flow.dtype)
    mask = fit_mask(mask, flow.shape[-2:])
    return flow * mask


def clamp_note(flow: torch.Tensor) -> str:
    """"" when the flow stays within the official clamp, else a note saying how the official pipeline animates it."""
    peak = float(flow.abs().amax())
    if peak <= OFFICIAL_VIDEO_CLAMP:
        return ""
    return (f"; peaks at {peak:.1f} px/frame — the official pipeline animates it clamped to {OFFICIAL_VIDEO_CLAMP:g} "
            f"px/frame: the video network does so by default, for the pixel engine set Animate's max_px_per_frame to "
            f"{OFFICIAL_VIDEO_CLAMP:g}")


def prepare_flow(flow: torch.Tensor, size: tuple[int, int], batch: int, mask: torch.Tensor | None, speed: float,
                 max_px_per_frame: float, video_network: bool = False) -> torch.Tensor:
    """Fit a flow to ``batch`` images of ``size`` for animation: resize it (vectors scaled with it), clamp each
    component to ±``max_px_per_frame`` as the official pipeline does (0 = the engine's default: no clamp for the
    pixel engine, :data:`OFFICIAL_VIDEO_CLAMP` for the video network), multiply by ``speed``, then by the 0..1
    ``mask`` (any layout :func:`models.checks.check_mask` takes, B = 1 or ``batch``) if given."""
    if flow.ndim != 4 or flow.shape[1] != 2:
        raise InputShapeError(f"flow must be a T2C_FLOW [B,2,H,W], got shape {tuple(flow.shape)}")
    if flow.shape[0] not in (1, batch):
        raise InputShapeError(f"{flow.shape[0]} flows for {batch} images: give one flow, or one per image")
    speed = check_number(speed, "Animate `speed`", minimum=0.0)
    max_px_per_frame = check_number(max_px_per_frame, "Animate `max_px_per_frame`", minimum=0.0)
    check_flow(flow)
    if mask is not None and check_mask(mask, "Animate `mask`").shape[0] not in (1, batch):
        raise InputShapeError(f"{mask.shape[0]} masks for {batch} images: give one mask, or one per image")
    if video_network and not max_px_per_frame:
        max_px_per_frame = OFFICIAL_VIDEO_CLAMP
    flow = resize_flow(flow.float(), size)
    if max_px_per_frame > 0:
        flow = clamp_flow(flow, max_px_per_frame)
    flow = flow * speed
    if mask is not None:  # 0..1, so the motion the guard below sees is the motion animated
        flow = mask_flow(flow, mask)
    top = float(flow.abs().amax()) if flow.numel() else 0.0
    if not top <= MAX_MOTION_PX:
        raise InputValueError(
            f"the flow × `speed` reaches {top:.3g} px/frame, more than the {MAX_MOTION_PX:g} that can be animated "
            f"without overflow: lower `speed`, set `max_px_per_frame`, or check what made the flow")
    return flow
