"""Socket types shared by our nodes, and conversions between ComfyUI tensors and the layout of ``models/``.

ComfyUI passes IMAGE as [B,H,W,3] and MASK as [B,H,W] (or [H,W]); ``models/`` works channel-first
([B,3,H,W], [B,1,H,W]) like torch's own image ops, so the IMAGE conversion lives here, once; every stage reads a
MASK through :func:`models.checks.check_mask`.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..models.checks import InputShapeError, check_tensor

CATEGORY = "Text2Cinemagraph"

Flow = io.Custom("T2C_FLOW")
"""float32 [B,2,H,W] in pixels per frame (channel 0 = x right, channel 1 = y down), or a stack of motion layers;
:func:`models.flow.layers.as_stack` is the one conversion (docs/flow.md)."""
FlowModel = io.Custom("T2C_FLOW_MODEL")
VideoModel = io.Custom("T2C_VIDEO_MODEL")
Attention = io.Custom("T2C_ATTENTION")


def image_to_bchw(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """[B, 3, H, W] of an IMAGE [B, H, W, 3|4] (alpha dropped); ``name`` ("Animate `image`") words the refusals."""
    check_tensor(image, name, "an IMAGE tensor [B, H, W, 3] (from a node's IMAGE output)")
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise InputShapeError(f"{name} must be an IMAGE [B, H, W, 3] (RGB), got shape {tuple(image.shape)}: convert "
                              "a mask or a one-channel picture with Convert Mask to Image first")
    return image[..., :3].permute(0, 3, 1, 2).float().contiguous()


def bchw_to_image(image: torch.Tensor) -> torch.Tensor:
    return image.permute(0, 2, 3, 1).contiguous()
