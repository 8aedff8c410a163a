"""Socket types shared by our nodes, and conversions between ComfyUI tensors and the layout of ``models/``.

ComfyUI passes IMAGE as [B,H,W,3] and MASK as [B,H,W] (or [H,W]); ``models/`` works channel-first
([B,3,H,W], [B,1,H,W]) like torch's own image ops, so the IMAGE conversion lives here, once; every stage reads a
MASK through :func:`models.checks.check_mask`.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..models.checks import InputShapeError

CATEGORY = "Text2Cinemagraph"

Flow = io.Custom("T2C_FLOW")
"""float32 [B,2,H,W] in pixels per frame; channel 0 = x (right), channel 1 = y (down)."""
FlowModel = io.Custom("T2C_FLOW_MODEL")
VideoModel = io.Custom("T2C_VIDEO_MODEL")
Attention = io.Custom("T2C_ATTENTION")


def image_to_bchw(image: torch.Tensor) -> torch.Tensor:
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise InputShapeError(f"expected an IMAGE [B,H,W,3], got shape {tuple(image.shape)}")
    return image[..., :3].permute(0, 3, 1, 2).float().contiguous()


def bchw_to_image(image: torch.Tensor) -> torch.Tensor:
    return image.permute(0, 2, 3, 1).contiguous()
