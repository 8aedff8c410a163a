"""Pre- and post-processing around the three networks, as in the official inference scripts.

Team conventions in, network conventions inside: images [B, 3, H, W] in 0..1 become RGB in [-1, 1]
(``(x − 0.5)·2``), masks [B, 1, H, W] in 0..1 become {0, 1} (> 0.5), flows in px/frame become the
networks' units of ``MOTION_NORM`` = 64 px/frame (and back). Sizes the networks cannot take are resized
(flow nets) or padded (video net) and mapped back.

Differences from the official scripts (``test_motion.py``, ``test_motion_directional.py``,
``test_video.py``), which always work at 512×512:
* the flow nets run at the multiple of 64 (A) / 256 (B) nearest to each side instead of at 512, so no
  aspect-ratio distortion; RGB is resized bicubically with antialias (≈ PIL BICUBIC), the mask with
  ``nearest-exact`` (= PIL NEAREST); the flow is mapped back bilinearly with its vectors rescaled
  (official: nearest, a no-op at 512);
* the video net runs at the image size padded to a multiple of 4 (replicated border, zero flow) and
  is cropped back; frames stay float 0..1 instead of being truncated to uint8;
* the official video script prepares the flow as ``clamp(flow_px, −1, 1)·speed`` before the network;
  :func:`render_loop_with_network` takes the flow as given (use ``models.flow.ops.clamp_flow``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from ..checks import InputTypeError, InputValueError, check_companion, check_mask, check_nchw
from ..flow.hints import OFFICIAL_HINT_PX_PER_FRAME, direction_hint
from ..flow.ops import MOTION_NORM, resize_flow
from ..loop.common import check_loop_inputs, loop_buffer
from ..loop.euler import loop_displacements
from .hint_flow import HintFlowNet
from .splat_video import SplatVideoNet
from .text_flow import TextFlowNet, check_context

__all__ = [  # MOTION_NORM, the official hint and its magnitude live with the flow conventions (models/flow/)
    "MOTION_NORM",
    "OFFICIAL_HINT_PX_PER_FRAME",
    "direction_hint",
    "nearest_valid_size",
    "predict_hint_flow",
    "predict_text_flow",
    "render_loop_with_network",
]


def nearest_valid_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """The positive multiple of ``multiple`` nearest to each side (at least one multiple)."""
    return tuple(max(multiple, int(round(side / multiple)) * multiple) for side in (height, width))


def _check_image_and_mask(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Validate image [B, 3, H, W] and a mask of the image's size, B = 1 or the image's (any layout
    :func:`models.checks.check_mask` takes); returns the mask as [B, 1, H, W]."""
    check_nchw(image, "image", channels=3)
    mask = check_companion(check_mask(mask, "mask"), "mask", image, channels=1)
    return mask.expand(image.shape[0], -1, -1, -1)


def _network_rgb_and_mask(
    image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB in [-1, 1] and binary mask at the network size (bicubic+antialias / nearest-exact)."""
    binary = (mask > 0.5).float()
    image = image.float()
    if tuple(image.shape[-2:]) != size:
        image = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        binary = F.interpolate(binary, size=size, mode="nearest-exact")
    return (image - 0.5) * 2, binary


def _flow_from_network(output: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Network output (units of 64 px) → px/frame at the mask's size, zero outside the binary mask."""
    if not torch.isfinite(output).all():
        raise InputValueError("the flow network produced NaN/inf values: its weights are damaged, or half precision "
                              "overflowed (run it in float32)")
    flow = output.float() * MOTION_NORM
    size = tuple(mask.shape[-2:])
    if tuple(flow.shape[-2:]) != size:
        flow = resize_flow(flow, size, mode="bilinear")
    return flow * (mask > 0.5).to(flow.dtype)


@contextlib.contextmanager
def _after_each_module(network: torch.nn.Module, on_step: Callable[[], None] | None) -> Iterator[None]:
    """Call ``on_step()`` after every module of ``network`` runs: a forward pass on a large image takes long on a
    CPU, and an exception it raises (e.g. Cancel) stops it there."""
    handles = [] if on_step is None else [m.register_forward_hook(lambda *_: on_step()) for m in network.modules()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _run(network: torch.nn.Module, *inputs: torch.Tensor, on_step: Callable[[], None] | None = None) -> torch.Tensor:
    with torch.no_grad(), _after_each_module(network, on_step):
        return network(*(t.to(device=network.device, dtype=network.dtype) for t in inputs))


def predict_text_flow(
    network: TextFlowNet, image: torch.Tensor, mask: torch.Tensor, context: torch.Tensor,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Flow [B, 2, H, W] in px/frame predicted by network A from the image, the mask and the prompt.

    ``context`` [B|1, 77, 768] is the last hidden state of the SD-1.4 CLIP text encoder for the prompt
    (docs/networks.md#spatial-transformer). The flow is zero outside the binary mask, on the image's device.
    ``on_step()`` runs after every module of the network (an exception it raises, e.g. Cancel, stops it).
    """
    if not isinstance(network, TextFlowNet):
        raise InputTypeError(f"network must be a TextFlowNet, got {type(network).__name__}")
    mask = _check_image_and_mask(image, mask)
    context = check_context(context, image.shape[0])
    size = nearest_valid_size(*image.shape[-2:], TextFlowNet.SIZE_MULTIPLE)
    rgb, binary = _network_rgb_and_mask(image, mask, size)
    output = _run(network, torch.cat((rgb, binary), dim=1), context, on_step=on_step)
    return _flow_from_network(output.to(image.device), mask)


def predict_hint_flow(
    network: HintFlowNet, image: torch.Tensor, mask: torch.Tensor, hint: torch.Tensor,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Flow [B, 2, H, W] in px/frame predicted by network B from the image, the mask and a hint flow.

    ``hint`` [B|1, 2, H, W] is in px/frame (divided by 64 for the network); :func:`direction_hint` builds
    the official one. The flow is zero outside the binary mask, on the image's device. ``on_step`` as in
    :func:`predict_text_flow`.
    """
    if not isinstance(network, HintFlowNet):
        raise InputTypeError(f"network must be a HintFlowNet, got {type(network).__name__}")
    mask = _check_image_and_mask(image, mask)
    check_companion(hint, "hint", image, channels=2)
    size = nearest_valid_size(*image.shape[-2:], HintFlowNet.SIZE_MULTIPLE)
    rgb, binary = _network_rgb_and_mask(image, mask, size)
    hint = hint.float().expand(image.shape[0], -1, -1, -1)
    if tuple(hint.shape[-2:]) != size:
        hint = resize_flow(hint, size, mode="nearest")
    output = _run(network, torch.cat((rgb, binary, hint / MOTION_NORM), dim=1), on_step=on_step)
    return _flow_from_network(output.to(image.device), mask)


def render_loop_with_network(
    network: SplatVideoNet,
    image: torch.Tensor,
    flow: torch.Tensor,
    n_frames: int,
    *,
    out: torch.Tensor | None = None,
    on_frame: Callable[[int], None] | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Render a seamless loop with network C into ``out`` [B, N, H, W, 3] (float32, 0..1) and return it.

    image [B, 3, H, W] in 0..1; flow [B|1, 2, H, W] in px/frame. Frame i is the official
    ``network(input, (0, i, N−1))`` (i forward Euler steps, N − i backward, α = 1 − i/N), but the image is
    encoded once for the whole loop and the displacements come from
    :func:`models.loop.euler.loop_displacements` (O(N) Euler steps). ``on_frame(i)`` runs after frame i is
    written; an exception it raises (e.g. a cancel) propagates; ``on_step()`` likewise after every module of the
    network and every Euler step before the first frame. ``out`` defaults to the image's device.
    """
    if not isinstance(network, SplatVideoNet):
        raise InputTypeError(f"network must be a SplatVideoNet, got {type(network).__name__}")
    check_loop_inputs(image, flow, n_frames, on_frame)
    batch, _, height, width = image.shape
    out = loop_buffer(out, image, n_frames)
    pad = (0, -width % SplatVideoNet.SIZE_MULTIPLE, 0, -height % SplatVideoNet.SIZE_MULTIPLE)
    device = network.device
    rgb = F.pad((image.float().to(device) - 0.5) * 2, pad, mode="replicate")
    flow = F.pad(flow.float().to(device), pad)
    with torch.no_grad(), _after_each_module(network, on_step):
        encoded = network.encode_pair(rgb)
        for i, forward_disp, backward_disp in loop_displacements(flow, n_frames, on_step=on_step):
            frame = network.render(encoded, forward_disp, backward_disp, 1.0 - i / n_frames)
            frame = ((frame[:, :, :height, :width].float() + 1) / 2).clamp(0, 1)
            out[:, i].copy_(frame.permute(0, 2, 3, 1))
            if on_frame is not None:
                on_frame(i)
    return out
