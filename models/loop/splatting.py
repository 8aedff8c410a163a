"""Summation (forward) splatting in pure PyTorch, device-agnostic (CPU and CUDA).

Every source pixel (x, y) is sent to (x + dx, y + dy) and added to its four bilinear neighbours
(x0 = floor, fractional weights); taps outside the frame are dropped (docs/networks.md#softmax-splatting). Implemented
as one ``scatter_add_`` per tap on a channel-first [B, C, pixels] buffer with the index expanded over C,
the fastest CPU layout measured in docs/networks.md#splatting-speed-on-a-cpu; on CUDA ``scatter_add_`` is
deterministic under
``torch.use_deterministic_algorithms(True)``. Loops pass a :class:`Workspace` so a splat allocates nothing.
"""

from __future__ import annotations

import torch

from ..checks import InputValueError, check_companion, check_nchw


class Workspace:
    """Named scratch tensors, allocated on first use and again only when a shape changes. Hot loops (the animator
    splats every frame) reuse them: fresh megabyte-sized temporaries per call cost page faults that rival the
    arithmetic on a CPU."""

    def __init__(self) -> None:
        self._tensors: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor, dtype: torch.dtype | None = None):
        dtype = like.dtype if dtype is None else dtype
        tensor = self._tensors.get(name)
        if tensor is None or tensor.shape != shape or tensor.dtype != dtype or tensor.device != like.device:
            tensor = self._tensors[name] = torch.empty(shape, dtype=dtype, device=like.device)
        return tensor


def splat_points(
    values: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    size: tuple[int, int],
    scale: torch.Tensor | None = None,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """Summation-splat points with ``values`` [B|1, C, M] at float positions ``x``, ``y`` [B|1, M].

    ``scale`` [M] or shaped like ``x`` optionally multiplies each point (cheaper than scaling all C channels). Returns
    a [B, C, H, W] view. Low-level: inputs are not validated, callers guarantee finite values and
    matching devices; positions may lie anywhere (far-away ones are simply dropped). With a ``workspace``
    nothing is allocated and the result is a view into it, valid until the workspace's next splat.
    """
    work = Workspace() if workspace is None else workspace
    height, width = size
    batch, channels, count = max(values.shape[0], x.shape[0]), values.shape[1], values.shape[2]
    points = (x.shape[0], count)

    def buffer(name: str, dtype: torch.dtype | None = None, shape: tuple[int, ...] = points) -> torch.Tensor:
        return work.get(name, shape, x, dtype)

    # Splat into a frame padded by 1 (left/top) and 2 (right/bottom) and crop it: positions clamped to
    # [-1, W] × [-1, H] put every tap that falls outside the frame on the border, with exactly zero weight
    # on the inner neighbour, so no per-tap bounds checks are needed.
    padded_width = width + 3
    cx, cy = torch.clamp(x, -1, width, out=buffer("x")), torch.clamp(y, -1, height, out=buffer("y"))
    x0, y0 = torch.floor(cx, out=buffer("x0")), torch.floor(cy, out=buffer("y0"))
    fx, fy = torch.sub(cx, x0, out=cx), torch.sub(cy, y0, out=cy)
    gx, gy = torch.sub(1, fx, out=buffer("gx")), torch.sub(1, fy, out=buffer("gy"))
    if scale is not None:
        fy.mul_(scale)
        gy.mul_(scale)
    corner = buffer("corner", torch.long).copy_(y0).add_(1).mul_(padded_width)
    corner.add_(buffer("index", torch.long).copy_(x0)).add_(1)
    out = buffer("out", values.dtype, (batch, channels, (height + 3) * padded_width)).zero_()
    weight, weighted = buffer("weight"), buffer("weighted", values.dtype, (batch, channels, count))
    index = buffer("index", torch.long)
    for offset, wx, wy in ((0, gx, gy), (1, fx, gy), (padded_width, gx, fy), (padded_width + 1, fx, fy)):
        torch.add(corner, offset, out=index)
        torch.mul(values, torch.mul(wx, wy, out=weight).unsqueeze(1), out=weighted)
        out.scatter_add_(2, index.unsqueeze(1).expand(batch, channels, -1), weighted)
    return out.view(batch, channels, height + 3, padded_width)[:, :, 1 : height + 1, 1 : width + 1]


def _grid_targets(disp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened target positions (x + dx, y + dy) [B, H·W] of every pixel."""
    batch, _, height, width = disp.shape
    xs = torch.arange(width, dtype=disp.dtype, device=disp.device).view(1, 1, width)
    ys = torch.arange(height, dtype=disp.dtype, device=disp.device).view(1, height, 1)
    return (disp[:, 0] + xs).reshape(batch, -1), (disp[:, 1] + ys).reshape(batch, -1)


def _validate(x: torch.Tensor, disp: torch.Tensor, weight: torch.Tensor | None) -> None:
    check_nchw(x, "x")
    check_companion(disp, "disp", x, channels=2)
    if weight is not None:
        check_companion(weight, "weight", x, channels=1)
    devices = {t.device for t in (x, disp, weight) if t is not None}
    if len(devices) > 1:
        raise InputValueError(f"x, disp and weight must be on the same device, got {sorted(map(str, devices))}")


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
