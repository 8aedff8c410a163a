"""Learning-free "pixel engine": animates an image along an Eulerian flow as a seamless loop.

Frame i of N blends the image splatted forward by i Euler steps of +flow (weight α = 1 − i/N) with the
same image splatted backward by N − i steps of −flow (weight 1 − α), each also weighted by a softmax
importance exp(Z − max Z) and normalised by the splatted weights: the official symmetric softmax
splatting (docs/networks.md#softmax-splatting) done on RGB pixels instead of learned features. At i = 0 the result is
the input, and frame N would be the input again, so the loop closes seamlessly.

Static pixels (zero flow) never move, so only moving pixels are integrated and splatted; a static pixel
that no moving content reaches is copied bit-exactly from the input. Pixels that nothing lands on
(holes) are filled by the other direction through the blend itself, and whatever is left from the
nearest valid pixels (:func:`fill_holes`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..checks import InputValueError, check_companion, check_flow, check_number
from .common import bounding_box, check_loop_inputs, loop_buffer
from .euler import INTEGRATIONS, EulerState, loop_compact_displacements, tracked_pixels
from .splatting import Workspace, splat_points

DEFAULT_SHARPNESS = 4.0


def speed_importance(flow: torch.Tensor, sharpness: float = DEFAULT_SHARPNESS) -> torch.Tensor:
    """Importance Z [B, 1, H, W] = sharpness · |v| / max |v|: where content collides, faster content wins.

    Speed is the only learning-free cue that reliably marks the animated layer (the official network
    learns Z from features); static pixels get Z = 0, the fastest pixel Z = sharpness.
    """
    check_flow(flow)
    check_number(sharpness, "sharpness", minimum=0.0, maximum=50.0)
    speed = torch.linalg.vector_norm(flow, dim=1, keepdim=True)
    top = speed.max()
    return speed * (sharpness / top) if top > 0 else torch.zeros_like(speed)


def _sum_2x2(x: torch.Tensor) -> torch.Tensor:
    """Sum of each 2×2 block (odd sizes zero-padded): a pyramid step ~4× faster than avg_pool2d on CPU."""
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        x = F.pad(x, (0, width % 2, 0, height % 2))
    return x[..., 0::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 0::2] + x[..., 1::2, 1::2]


def fill_holes(frame: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """Fill ``holes`` [B, 1, H, W] (bool) of ``frame`` [B, C, H, W] from the surrounding valid pixels.

    Push-pull normalised convolution: the valid pixels and their count are summed down a 2× pyramid
    until every hole is covered, and the coarse estimates (sum / count) are interpolated back up. Only
    the holes' bounding box (plus a margin) is processed and only hole pixels are sampled at full
    resolution, so the cost follows the holes, not the frame. Valid pixels are kept bit-exactly; an
    item without any valid pixel near its holes keeps its values.
    """
    filled = frame.clone()
    rows, cols = bounding_box(holes.any(dim=0)[0], margin=4)
    box, box_holes = frame[:, :, rows, cols], holes[:, :, rows, cols]
    valid = (~box_holes).to(frame.dtype)
    levels = [torch.cat((box * valid, valid), dim=1)]
    while (levels[-1][:, -1] == 0).any() and max(levels[-1].shape[-2:]) > 1:
        levels.append(_sum_2x2(levels[-1]))
    if len(levels) == 1:  # no holes, or a 1×1 frame with nothing valid
        return filled
    estimate = None
    for level in reversed(levels[1:]):
        color, weight = level[:, :-1], level[:, -1:]
        own = color / weight.clamp_min(1e-12)
        if estimate is not None:
            upsampled = F.interpolate(estimate, size=level.shape[-2:], mode="bilinear", align_corners=False)
            own = torch.where(weight > 0, own, upsampled)
        estimate = own
    # Bilinear ×2 upsampling (align_corners=False) of the half-resolution estimate, at the holes only.
    batch, _, height, width = box.shape
    item, _, y, x = box_holes.nonzero(as_tuple=True)
    grid = torch.stack(((x + 0.5) / width * 2 - 1, (y + 0.5) / height * 2 - 1), dim=-1).to(frame.dtype)
    sampled = F.grid_sample(
        estimate, grid.view(1, 1, -1, 2).expand(batch, -1, -1, -1), padding_mode="border", align_corners=False
    )[item, :, 0, torch.arange(len(item), device=frame.device)]
    keep = (valid.amax(dim=(1, 2, 3)) > 0)[item]
    filled[item[keep], :, y[keep] + rows.start, x[keep] + cols.start] = sampled[keep]
    return filled


def active_window(flow: torch.Tensor) -> tuple[slice, slice]:
    """Rows and columns that moving content can ever reach: the moving pixels' bounding box + ⌈max|v|⌉ + 2.

    A pixel only moves while its flow lookup hits a moving pixel (within 1 px of one), so it never gets
    farther than max|v| + 1 from the moving pixels' bounding box; its bilinear splat taps reach 1 px
    further. Everything outside the window is static and untouched in every frame.
    """
    moving = (flow != 0).any(dim=1).any(dim=0)
    return bounding_box(moving, margin=int(math.ceil(float(flow.abs().max()))) + 2)


class _Blender:
    """Per-loop constants and the per-frame symmetric blend, computed inside the active window only."""

    def __init__(self, image: torch.Tensor, flow: torch.Tensor, importance: torch.Tensor):
        self.image = image
        self.image_last = image.permute(0, 2, 3, 1)
        self.rows, self.cols = active_window(flow)
        self.sources = tracked_pixels(flow)
        crop = image[:, :, self.rows, self.cols]
        batch, channels, height, width = crop.shape
        self.crop, self.size = crop, (height, width)
        full_width = image.shape[-1]
        src_x = self.sources % full_width
        src_y = torch.div(self.sources, full_width, rounding_mode="floor")
        start = torch.stack((src_x - self.cols.start, src_y - self.rows.start)).to(image.dtype)
        # Forward and backward points are splatted in one call: the sources twice, forward ones first.
        self.start = torch.cat((start, start), dim=1).unsqueeze(0)

        weight = torch.exp(importance - importance.max())
        # Per batch item: a pixel tracked for another item may be static in this one.
        moving = (flow != 0).any(dim=1, keepdim=True)
        moving_weight = (weight * moving)[:, :, src_y, src_x].expand(batch, -1, -1)
        values = torch.cat((image[:, :, src_y, src_x] * moving_weight, moving_weight), dim=1)
        self.values = torch.cat((values, values), dim=2)
        self.moving = moving[:, :, self.rows, self.cols]
        static_weight = (weight * ~moving)[:, :, self.rows, self.cols].expand(batch, -1, -1, -1)
        self.base = torch.cat((crop * static_weight, static_weight), dim=1)
        self.workspace = Workspace()

    def render(
        self, i: int, n_frames: int, forward: torch.Tensor, backward: torch.Tensor, dest: torch.Tensor
    ) -> None:
        """Write frame i into ``dest`` [B, H, W, 3] from compact forward (i) and backward (N − i) displacements.

        Every temporary lives in the workspace, so a frame allocates nothing (see :class:`Workspace`)."""
        dest.copy_(self.image_last)
        if i % n_frames == 0 or self.sources.numel() == 0:
            # At i = 0 (and N) the blend is the identity splat: the input itself closes the loop exactly.
            return
        work, count = self.workspace, forward.shape[-1]
        alpha = 1.0 - i / n_frames
        pos = work.get("pos", (forward.shape[0], 2, 2 * count), forward)
        pos[:, :, :count].copy_(forward)
        pos[:, :, count:].copy_(backward)
        pos.add_(self.start)
        scale = work.get("scale", (2 * count,), forward)
        scale[:count].fill_(alpha)
        scale[count:].fill_(1.0 - alpha)
        moving_sum = splat_points(self.values, pos[:, 0], pos[:, 1], self.size, scale=scale, workspace=work)
        total = torch.add(moving_sum, self.base, out=work.get("total", self.base.shape, self.base))
        numerator, denominator = total[:, :-1], total[:, -1:]

        def flags(name: str) -> torch.Tensor:
            return work.get(name, denominator.shape, denominator, torch.bool)

        affected = torch.gt(moving_sum[:, -1:], 0, out=flags("affected")).logical_or_(self.moving)
        empty = torch.eq(denominator, 0, out=flags("empty"))
        holes = torch.logical_and(affected, empty, out=flags("holes"))
        # Where nothing moves or nothing landed, the input; holes start as the input too, which is what stays if
        # nothing at all is left to fill them from.
        keep_input = torch.logical_not(affected, out=affected).logical_or_(empty)
        ratio = torch.div(numerator, denominator.masked_fill_(empty, 1.0), out=work.get("ratio", self.crop.shape,
                                                                                          self.crop))
        frame = torch.where(keep_input, self.crop, ratio, out=ratio)
        if bool(holes.any()):
            frame = fill_holes(frame, holes)
        dest[:, self.rows, self.cols].copy_(frame.permute(0, 2, 3, 1))


def _prepare(
    image: torch.Tensor, flow: torch.Tensor, n_frames: int, importance: torch.Tensor | None, integration: str,
    on_frame: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_loop_inputs(image, flow, n_frames, on_frame)
    if importance is not None:
        check_companion(importance, "importance", image, channels=1)
    image, flow = image.float(), flow.float()
    importance = speed_importance(flow) if importance is None else importance.float().to(image.device)
    if integration not in INTEGRATIONS:
        raise InputValueError(f"integration must be one of {INTEGRATIONS}, got {integration!r}")
    return image, flow, importance


def render_loop(
    image: torch.Tensor,
    flow: torch.Tensor,
    n_frames: int,
    *,
    out: torch.Tensor | None = None,
    on_frame: Callable[[int], None] | None = None,
    integration: str = "round",
    importance: torch.Tensor | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Render a seamless loop of ``n_frames`` frames into ``out`` [B, N, H, W, 3] (float32) and return it.

    image [B, 3, H, W]; flow [B|1, 2, H, W] in px/frame at the image's size; importance Z [B|1, 1, H, W]
    (default :func:`speed_importance`). Frames are written one by one into ``out`` (allocated if None);
    ``on_frame(i)`` runs after frame i is written, and any exception it raises (e.g. a cancel) propagates;
    ``on_step()`` likewise between the steps that come before the first frame (the set-up, the traces).
    Memory beyond ``out``: a few frame-sized buffers plus O(√N) displacement fields of the moving pixels.
    """
    image, flow, importance = _prepare(image, flow, n_frames, importance, integration, on_frame)
    out = loop_buffer(out, image, n_frames)
    step = on_step or (lambda: None)
    step()
    blender = _Blender(image, flow, importance)
    step()
    for i, forward, backward in loop_compact_displacements(flow, n_frames, integration, on_step=on_step):
        blender.render(i, n_frames, forward, backward, out[:, i])
        if on_frame is not None:
            on_frame(i)
    return out


def render_frame(
    image: torch.Tensor,
    flow: torch.Tensor,
    index: int,
    n_frames: int,
    *,
    integration: str = "round",
    importance: torch.Tensor | None = None,
) -> torch.Tensor:
    """Frame ``index`` (0 … N) [B, 3, H, W] of the loop, integrated from scratch (random access, O(N))."""
    image, flow, importance = _prepare(image, flow, n_frames, importance, integration)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= n_frames:
        raise InputValueError(f"index must be an int in [0, n_frames={n_frames}], got {index!r}")
    forward, backward = EulerState(flow, integration), EulerState(flow, integration, reverse=True)
    for _ in range(index):
        forward.step()
    for _ in range(n_frames - index):
        backward.step()
    blender = _Blender(image, flow, importance)
    frame = torch.empty_like(image).permute(0, 2, 3, 1)
    blender.render(index, n_frames, forward.compact_displacement(), backward.compact_displacement(), frame)
    return frame.permute(0, 3, 1, 2)
