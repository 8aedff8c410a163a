"""Motion layers: several regions of one picture, each with its own motion, border behaviour and period.

A ``T2C_FLOW`` socket carries either a plain flow tensor [B, 2, H, W] in px/frame (what earlier versions of the
pack and API prompts pass) or a :class:`FlowStack` of :class:`FlowLayer`s, bottom first. :func:`as_stack` is the one
place that turns whatever arrives into a stack, and :meth:`FlowStack.combined` the one place that turns a stack into
the single flow tensor that the classic splat engine, the video network and the flow preview's colours read.

Where layer masks overlap, the upper layer owns the pixel (:meth:`FlowStack.owner`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..checks import InputShapeError, InputTypeError, InputValueError, check_flow, check_nchw
from .ops import fit_mask, prepare_flow

BORDERS = ("auto", "behind", "slip", "stick")
"""How a layer meets whatever is not itself: ``behind`` passes behind it at full speed (what comes out from
behind is made from the layer's own texture), ``slip`` keeps the motion along the border and fades only the part
pointing into it, ``stick`` fades the speed to zero at the border, ``auto`` picks one for the region."""
RESOLVED_BORDERS = BORDERS[1:]
LEGACY_BORDER = "stick"
"""A plain flow tensor arrives already faded at its region's border: it keeps animating as it always did."""
CYCLE_CHOICES = ("auto", "1", "2", "3", "4")
"""Per-layer period: how many times the layer repeats per loop (``auto``: from its own distortion analysis)."""
MAX_LAYERS = 8
"""Each layer costs the sharp loop a plan and one frame-sized buffer; eight regions is more than any picture needs."""
OWNER_THRESHOLD = 0.5
"""A soft mask owns a pixel where it is above this (the same threshold the flow engine uses for 'moving')."""


@dataclass(frozen=True)
class FlowLayer:
    """One region's motion. ``flow`` [B|1, 2, H, W] px/frame, already shaped for its ``border`` (a resolved one of
    :data:`RESOLVED_BORDERS`); ``mask`` [B|1, 1, H, W] in 0..1, where the layer is; ``cycles`` repeats per loop
    (None = auto); ``label`` names the node that made it, for messages ("Text Flow #12")."""

    flow: torch.Tensor
    mask: torch.Tensor
    border: str = LEGACY_BORDER
    cycles: int | None = None
    label: str = "flow"

    def __post_init__(self) -> None:
        check_flow(self.flow, f"{self.label} flow")
        check_nchw(self.mask, f"{self.label} mask", channels=1)
        if self.mask.shape[-2:] != self.flow.shape[-2:] or self.mask.shape[0] not in (1, self.flow.shape[0]):
            raise InputShapeError(f"{self.label}: mask {list(self.mask.shape)} does not fit its flow "
                                  f"{list(self.flow.shape)}")
        if self.border not in RESOLVED_BORDERS:
            raise InputValueError(f"{self.label}: border must be one of {RESOLVED_BORDERS}, got {self.border!r}")
        if self.cycles is not None and (isinstance(self.cycles, bool) or not isinstance(self.cycles, int)
                                        or self.cycles < 1):
            raise InputValueError(f"{self.label}: cycles must be None (auto) or an int >= 1, got {self.cycles!r}")

    @property
    def batch(self) -> int:
        return max(self.flow.shape[0], self.mask.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.flow.shape[-2]), int(self.flow.shape[-1])

    def region(self) -> torch.Tensor:
        """[B|1, 1, H, W] bool: the pixels this layer claims."""
        return self.mask > OWNER_THRESHOLD


@dataclass(frozen=True)
class FlowStack:
    """Layers bottom first; build one with :func:`as_stack` and :meth:`push`."""

    layers: tuple[FlowLayer, ...]

    @property
    def size(self) -> tuple[int, int]:
        return self.layers[0].size

    @property
    def batch(self) -> int:
        return max(layer.batch for layer in self.layers)

    def push(self, layer: FlowLayer) -> FlowStack:
        """This stack with ``layer`` on top; layers must share the picture size and a compatible batch."""
        if len(self.layers) >= MAX_LAYERS:
            raise InputValueError(f"{layer.label}: a stack holds at most {MAX_LAYERS} layers and this one already "
                                  f"has {len(self.layers)}: merge regions into one mask, or start a new chain")
        below = self.layers[-1]
        if layer.size != below.size:
            raise InputShapeError(f"{layer.label} is {layer.size[0]}×{layer.size[1]} but the layers below it "
                                  f"({below.label}) are {below.size[0]}×{below.size[1]}: give every Text Flow of a "
                                  "chain the same image")
        if 1 not in (layer.batch, self.batch) and layer.batch != self.batch:
            raise InputShapeError(f"{layer.label} has a batch of {layer.batch} but the layers below it "
                                  f"({below.label}) have {self.batch}: give every Text Flow of a chain the same images")
        return FlowStack((*self.layers, layer))

    def describe(self) -> str:
        """One line per layer, bottom first, for a node's ``info`` output."""
        return "\n".join(f"layer {index + 1}: {layer.label}, border {layer.border}, "
                         f"cycles {'auto' if layer.cycles is None else layer.cycles}"
                         for index, layer in enumerate(self.layers))

    def owner(self) -> torch.Tensor:
        """[B, 1, H, W] int64: the index of the topmost layer that claims each pixel, −1 where none does."""
        height, width = self.size
        owner = torch.full((self.batch, 1, height, width), -1, dtype=torch.int64, device=self.layers[0].flow.device)
        for index, layer in enumerate(self.layers):
            owner = torch.where(layer.region(), torch.tensor(index, device=owner.device), owner)
        return owner

    def is_single_flow(self) -> bool:
        """One ``stick`` layer with automatic cycles: it animates exactly as its plain flow tensor always did."""
        return len(self.layers) == 1 and self.layers[0].border == LEGACY_BORDER and self.layers[0].cycles is None

    def combined(self) -> torch.Tensor:
        """[B, 2, H, W] float32: every pixel moves with the layer that owns it (still where none does). Legacy
        single-flow stacks return their flow unchanged, so old workflows animate bit-for-bit as before."""
        if len(self.layers) == 1 and self.layers[0].border == LEGACY_BORDER:
            return self.layers[0].flow
        owner = self.owner()
        height, width = self.size
        flow = self.layers[0].flow.new_zeros((self.batch, 2, height, width))
        for index, layer in enumerate(self.layers):
            flow = torch.where(owner == index, layer.flow, flow)
        return flow


def prepare_stack(stack: FlowStack, size: tuple[int, int], batch: int, mask: torch.Tensor | None, speed: float,
                  max_px_per_frame: float) -> FlowStack:
    """Every layer fitted to ``batch`` images of ``size`` for the pixel engine as :func:`models.flow.ops.prepare_flow`
    fits a flow (resized, clamped, times ``speed``), its flow and its mask multiplied by the 0..1 ``mask``
    [B|1, 1, h, w] if given."""
    layers = []
    for layer in stack.layers:
        flow = prepare_flow(layer.flow, size, batch, mask, speed, max_px_per_frame)
        region = fit_mask(layer.mask.float(), size)
        if mask is not None:
            region = region * fit_mask(mask.to(layer.mask.device).float(), size)
        layers.append(replace(layer, flow=flow, mask=region))
    return FlowStack(tuple(layers))


def legacy_layer(flow: torch.Tensor, label: str = "flow") -> FlowLayer:
    """A plain flow tensor as one ``stick`` layer whose region is where it moves."""
    check_flow(flow, f"{label} (a T2C_FLOW [B, 2, H, W]: connect a Text Flow node)")
    return FlowLayer(flow=flow.float(), mask=(flow != 0).any(dim=1, keepdim=True).float(), border=LEGACY_BORDER,
                     label=label)


def as_stack(value: object, name: str = "flow") -> FlowStack:
    """The one conversion of a ``T2C_FLOW`` value: a :class:`FlowStack` as it is, a [B, 2, H, W] tensor as a
    one-layer stack; anything else is refused naming ``name``."""
    if isinstance(value, FlowStack):
        return value
    if isinstance(value, torch.Tensor):
        return FlowStack((legacy_layer(value, name),))
    raise InputTypeError(f"{name} must be a T2C_FLOW (connect a Text Flow node), got {type(value).__name__}")
