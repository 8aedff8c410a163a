"""Summation (forward) splatting in pure PyTorch, device-agnostic (CPU and CUDA).

Every source pixel (x, y) is sent to (x + dx, y + dy) and added to its four bilinear neighbours
(x0 = floor, fractional weights); taps outside the frame are dropped (NETWORKS.md §5.4). Implemented
as one ``scatter_add_`` per tap on a channel-first [B, C, H·W] buffer with the index expanded over C,
the fastest CPU layout measured in PEERS.md §6; on CUDA ``scatter_add_`` is deterministic under
``torch.use_deterministic_algorithms(True)``.
"""

from __future__ import annotations

import torch

from .flow_ops import validate_flow, validate_nchw


def splat_points(
    values: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    size: tuple[int, int],
    out: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Summation-splat points with ``values`` [B|1, C, M] at float positions ``x``, ``y`` [B|1, M].

    ``scale`` [B|1, M] optionally multiplies each point (cheaper than scaling all C channels).
    Returns (or accumulates into ``out``) a [B, C, H·W] buffer. Low-level: inputs are not validated,
    callers guarantee finite values and matching devices; positions may lie anywhere (far-away ones
    are simply dropped).
    """
    height, width = size
    batch, channels = max(values.shape[0], x.shape[0]), values.shape[1]
    if out is None:
        out = values.new_zeros(batch, channels, height * width)
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    # Per-axis tap weights, zero for a tap column/row outside the frame; such a tap then adds exactly 0
    # at a clamped (valid) index, which is cheaper than masking indices per tap.
    wx0 = torch.where((x0 >= 0) & (x0 < width), 1 - fx, 0)
    wx1 = torch.where((x0 >= -1) & (x0 < width - 1), fx, 0)
    wy0 = torch.where((y0 >= 0) & (y0 < height), 1 - fy, 0)
    wy1 = torch.where((y0 >= -1) & (y0 < height - 1), fy, 0)
    if scale is not None:
        wy0, wy1 = wy0 * scale, wy1 * scale
    corner = y0 * width + x0
    for offset, wx, wy in ((0, wx0, wy0), (1, wx1, wy0), (width, wx0, wy1), (width + 1, wx1, wy1)):
        index = (corner + offset).clamp_(0, height * width - 1).unsqueeze(1).expand(batch, channels, -1)
        out.scatter_add_(2, index, values * (wx * wy).unsqueeze(1))
    return out


def _grid_targets(disp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened target positions (x + dx, y + dy) [B, H·W] of every pixel."""
    batch, _, height, width = disp.shape
    xs = torch.arange(width, dtype=disp.dtype, device=disp.device).view(1, 1, width)
    ys = torch.arange(height, dtype=disp.dtype, device=disp.device).view(1, height, 1)
    return (disp[:, 0] + xs).reshape(batch, -1), (disp[:, 1] + ys).reshape(batch, -1)


def _validate(x: torch.Tensor, disp: torch.Tensor, weight: torch.Tensor | None) -> None:
    validate_nchw(x, "x")
    validate_flow(disp, "disp")
    if disp.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"disp size {list(disp.shape[-2:])} must match x size {list(x.shape[-2:])}")
    if disp.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"disp batch ({disp.shape[0]}) must be 1 or match x batch ({x.shape[0]})")
    if weight is not None:
        validate_nchw(weight, "weight", channels=1)
        if weight.shape[-2:] != x.shape[-2:] or weight.shape[0] not in (1, x.shape[0]):
            raise ValueError(
                f"weight must have shape [B|1, 1, H, W] = {x.shape[0]}|1, 1, "
                f"{x.shape[2]}, {x.shape[3]}; got {list(weight.shape)}"
            )
    devices = {t.device for t in (x, disp, weight) if t is not None}
    if len(devices) > 1:
        raise ValueError(f"x, disp and weight must be on the same device, got {sorted(map(str, devices))}")


def softsplat(x: torch.Tensor, disp: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Summation splat of ``x · weight`` [B, C, H, W] along ``disp`` [B|1, 2, H, W] (weight None → x)."""
    _validate(x, disp, weight)
    values = x if weight is None else x * weight
    batch, channels, height, width = values.shape
    tx, ty = _grid_targets(disp)
    out = splat_points(values.reshape(batch, channels, -1), tx, ty, (height, width))
    return out.view(batch, channels, height, width)


def splat_with_weights(
    x: torch.Tensor, disp: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Splat ``[x · weight, weight]`` in one call; returns (numerator [B, C, H, W], denominator [B, 1, H, W]).

    ``numerator / denominator`` (where the denominator is > 0) is the softmax-splatting blend.
    """
    _validate(x, disp, weight)
    stacked = torch.cat((x * weight, weight.expand(x.shape[0], -1, -1, -1)), dim=1)
    out = softsplat(stacked, disp)
    return out[:, :-1], out[:, -1:]
