"""What every loop engine needs (the pixel engines and the video network): the input checks, the output buffer, the
bounding box of a mask, and bilinear reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from ..checks import InputShapeError, InputTypeError, InputValueError, check_flow, check_int, check_nchw


def check_loop_inputs(image: torch.Tensor, flow: torch.Tensor, n_frames: int,
                      on_frame: Callable[[int], None] | None = None) -> None:
    """image [B, 3, H, W], flow [B|1, 2, H, W] of the same size on the same device, n_frames ≥ 1, on_frame a
    callable or None."""
    check_nchw(image, "image", channels=3)
    check_flow(flow)
    if flow.shape[-2:] != image.shape[-2:]:
        raise InputShapeError(
            f"flow size {list(flow.shape[-2:])} must match image size {list(image.shape[-2:])}; "
            "resize it first (models.flow.ops.resize_flow)"
        )
    if flow.shape[0] not in (1, image.shape[0]):
        raise InputShapeError(
            f"flow batch ({flow.shape[0]}) must be 1 or match the image batch ({image.shape[0]})"
        )
    if flow.device != image.device:
        raise InputValueError(f"image ({image.device}) and flow ({flow.device}) must be on the same device")
    check_int(n_frames, "n_frames", 1)
    if on_frame is not None and not callable(on_frame):
        raise InputTypeError(f"on_frame must be callable or None, got {type(on_frame).__name__}")


def loop_buffer(out: torch.Tensor | None, image: torch.Tensor, n_frames: int) -> torch.Tensor:
    """The float32 [B, N, H, W, 3] tensor the frames of ``image`` [B, 3, H, W] are written into: ``out`` when it is
    exactly that (a caller's preallocated, e.g. memory-mapped, buffer), a new one on the image's device if None."""
    batch, _, height, width = image.shape
    shape = (batch, n_frames, height, width, 3)
    if out is None:
        return torch.empty(shape, dtype=torch.float32, device=image.device)
    if tuple(out.shape) != shape or out.dtype != torch.float32 or out.device != image.device:
        raise InputValueError(f"out must be a float32 tensor of shape {list(shape)} on {image.device}, "
                              f"got {out.dtype} {list(out.shape)} on {out.device}")
    return out


def batch_item(values: torch.Tensor, item: int) -> torch.Tensor:
    """Item ``item`` of ``values`` [B or 1, ...]: a size-1 batch is shared by every image (one mask, one plan)."""
    return values[item if values.shape[0] > 1 else 0]


CHUNK_PIXELS = 1 << 16
"""Pixels a pass over a layer's pixels works on at once (each frame's reads and blends, the balanced broad band's
weights): a frame's reads and blends take about 150 B a pixel for a moment, so a layer rendered whole held ~12 frames
of temporaries where the whole picture moves; a chunk's stay under 10 MB whatever the picture's size."""


def pixel_chunks(count: int) -> Iterator[slice]:
    """Slices of 0 … count − 1, :data:`CHUNK_PIXELS` at a time."""
    return (slice(start, min(start + CHUNK_PIXELS, count)) for start in range(0, count, CHUNK_PIXELS))


def chunk_share(index: torch.Tensor, part: slice) -> tuple[slice, torch.Tensor]:
    """The entries of the ascending ``index`` [K] (positions in a layer's sources) that lie in the chunk ``part``: where
    they are in ``index`` (a slice) and their positions counted from the chunk's start."""
    bounds = torch.searchsorted(index, torch.tensor([part.start, part.stop], dtype=index.dtype, device=index.device))
    within = slice(int(bounds[0]), int(bounds[1]))
    return within, index[within] - part.start


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


LEAVING_WARNING = 0.25
"""Warn when more than this share of the moving pixels leaves the picture in one frame either way."""


def leaving_warnings(flow: torch.Tensor) -> tuple[str, ...]:
    """A warning when most of the motion cannot be shown: a pixel whose first step forward and backward both land
    outside the picture is dropped by the classic splat (docs/networks.md#euler-integration), so its frames are the
    still; without a word the user would read N copies of the still as the motion asked for."""
    height, width = flow.shape[-2:]
    moving = (flow != 0).any(dim=1)
    count = int(moving.sum())
    if count == 0:
        return ()
    y = torch.arange(height, dtype=flow.dtype, device=flow.device).view(-1, 1)
    x = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, -1)

    def outside(sign: float) -> torch.Tensor:
        to_x, to_y = x + sign * flow[:, 0], y + sign * flow[:, 1]
        return (to_x < 0) | (to_x > width - 1) | (to_y < 0) | (to_y > height - 1)

    share = int((outside(1.0) & outside(-1.0) & moving).sum()) / count
    if share <= LEAVING_WARNING:
        return ()
    top = float(flow.abs().amax())
    return (f"{share:.0%} of the moving region leaves the {width}×{height} picture in one frame (up to {top:.3g} "
            "px/frame), so it cannot be shown moving and stays still: lower `speed`, set `max_px_per_frame`, or lower "
            "Text Flow's `strength`",)
