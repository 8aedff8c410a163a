"""Summation (forward) splatting in pure PyTorch, device-agnostic (CPU and CUDA).

Every source pixel (x, y) is sent to (x + dx, y + dy) and added to its four bilinear neighbours
(x0 = floor, fractional weights); taps outside the frame are dropped (NETWORKS.md §5.4). Implemented
as one ``scatter_add_`` per tap on a channel-first [B, C, pixels] buffer with the index expanded over C,
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
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Summation-splat points with ``values`` [B|1, C, M] at float positions ``x``, ``y`` [B|1, M].

    ``scale`` [B|1, M] optionally multiplies each point (cheaper than scaling all C channels). Returns
    a [B, C, H, W] view. Low-level: inputs are not validated, callers guarantee finite values and
    matching devices; positions may lie anywhere (far-away ones are simply dropped).
    """
    height, width = size
    batch, channels = max(values.shape[0], x.shape[0]), values.shape[1]
    # Splat into a frame padded by 1 (left/top) and 2 (right/bottom) and crop it: positions clamped to
    # [-1, W] × [-1, H] put every tap that falls outside the frame on the border, with exactly zero weight
    # on the inner neighbour, so no per-tap bounds checks are needed.
    padded_width = width + 3
    x = x.clamp(-1, width)
    y = y.clamp(-1, height)
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    gx, gy = 1 - fx, 1 - fy
    if scale is not None:
        fy, gy = fy * scale, gy * scale
    corner = (y0.long() + 1) * padded_width + (x0.long() + 1)
    out = values.new_zeros(batch, channels, (height + 3) * padded_width)
    for offset, wx, wy in ((0, gx, gy), (1, fx, gy), (padded_width, gx, fy), (padded_width + 1, fx, fy)):
        index = (corner + offset if offset else corner).unsqueeze(1).expand(batch, channels, -1)
        out.scatter_add_(2, index, values * (wx * wy).unsqueeze(1))
    return out.view(batch, channels, height + 3, padded_width)[:, :, 1 : height + 1, 1 : width + 1]


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
    return splat_points(values.reshape(batch, channels, -1), tx, ty, (height, width)).contiguous()


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
