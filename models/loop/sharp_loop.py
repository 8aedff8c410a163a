"""The "sharp loop" pixel engine: a seamless loop that keeps the still's detail (docs/loop.md).

The classic engine (:mod:`models.loop.pixel_animator`) splats the image forward i steps and backward N − i steps and
blends the two with weights 1 − i/N and i/N: every moving pixel is a 50/50 double exposure at frame N/2, and
bilinear splatting blurs fine texture. Here, for every moving pixel p and frame i of a cycle of L frames:

* **Gathering.** The forward phase reads the still where p's content was i Euler steps earlier (a trace back
  along the flow), the backward phase where it will be L − i steps later. Both traces advance one step per frame
  (:func:`models.loop.euler.loop_compact_displacements`: O(L) steps, O(√L) stored fields) and the still is read with a
  sharp one-tap sampler (:mod:`models.loop.sharp_resample`). No splat holes, no blur that grows with time.
* **Staggered, placed transitions.** Each pixel turns from the forward to the backward phase over a short window
  of its own, placed by a one-time analysis where both phases are still undistorted and spread over the cycle
  (:mod:`models.loop.sharp_plan`), so only a few patches are mid-transition at any frame.
* **Two bands.** The low band (σ = 4 px blur) fades slowly over a wide window (a staggered switch of a smooth
  gradient would show a front); the detail switches in the pixel's short window, the two details mixed with
  weights a, b divided by √(a² + b²) (variance-preserving blending, Heitz & Neyret 2018), so contrast is kept.
* **Cycles.** Where the flow distorts texture quickly, the loop is made of two cycles (each starts and ends on
  the still), so no texture is carried far enough to distort.

* **Balanced broad band.** Where one phase of a ``behind`` layer holds for most of the cycle (next to a still part
  it passes behind), its broad brightness cross-fades at rate i/L, which keeps a gradient: no darker or brighter
  strip along the still part (:mod:`models.loop.broad_band`).

* **Feather.** A motion layer that moves at full speed up to its border (``behind``, ``slip``) is blended towards
  the still over a few pixels where that border cuts continuous texture (:mod:`models.loop.border_feather`).

Frame 0 is the input, each cycle ends on the input (the loop closes with no seam), and every pixel whose flow
is zero is copied from the input bit-exactly in every frame.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..checks import InputValueError, check_flow, check_int
from ..flow.layers import FlowStack
from ..flow.ops import smoothstep
from .border_feather import Feather, apply_feather, stack_feathers
from .broad_band import BroadBand, one_phase_weight
from .common import batch_item, check_loop_inputs, loop_buffer, pixel_chunks
from .euler import loop_compact_displacements
from .sharp_plan import LoopPlan, flow_fingerprint, plan_loop
from .sharp_resample import SharpReader
from .sharp_stack import (
    LayerPlan,
    StackPlan,
    owned_region,
    plan_stack,
    refuse_cycles_with_stack,
    remap_into_layer,
    single_layer_plan,
)
from .stagger_choice import still_detail

TRACE_INTEGRATION = "round"
LOW_PASS_SIGMA = 4.0
"""px: the blur that splits the still into the low band (slow, wide fade) and the detail (short, staggered switch)."""


def render_sharp_loop(
    image: torch.Tensor,
    flow: torch.Tensor | FlowStack,
    n_frames: int,
    *,
    out: torch.Tensor | None = None,
    on_frame: Callable[[int], None] | None = None,
    transition: int | None = None,
    cycles: int | None = None,
    seed: int = 0,
    plan: LoopPlan | StackPlan | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Render a seamless loop [B, N, H, W, 3] (float32) of ``image`` [B, 3, H, W] along ``flow`` [B|1, 2, H, W] or
    a :class:`FlowStack` of motion layers (each layer its own plan: :mod:`models.loop.sharp_stack`).

    ``transition``: frames each pixel takes to switch phase (default
    :func:`models.loop.sharp_plan.default_transition`); ``cycles``: cycles per loop of a single flow (default
    :func:`models.loop.sharp_plan.choose_cycles`; a stack's layers carry their own); ``seed``: the stagger pattern;
    ``plan``: a ready plan from :func:`make_plan` for this flow and frame count (skips the analysis). ``out``,
    ``on_frame`` and ``on_step`` as in :func:`models.loop.pixel_animator.render_loop`. To read the analysis'
    warnings and notes, make the plan first and pass it.
    """
    for layer_flow in _flows(flow):
        check_loop_inputs(image, layer_flow, n_frames, on_frame)
    image = image.float()
    out = loop_buffer(out, image, n_frames)
    if plan is None:
        plan = make_plan(flow, n_frames, transition=transition, cycles=cycles, seed=seed, on_step=on_step,
                         image=image)
    renderer = SharpRenderer(image, check_plan(plan, flow, n_frames), on_step)
    for t in range(n_frames):
        renderer.render(out[:, t], t)
        if on_frame is not None:
            on_frame(t)
    return out


class SharpRenderer:
    """What rendering a plan holds for the whole loop: a reader per image and a cursor per layer. Frames must be
    rendered in order, from 0."""

    def __init__(self, image: torch.Tensor, plan: StackPlan, on_step: Callable[[], None] | None = None) -> None:
        """``image`` [B, 3, H, W] float32; ``on_step`` as in :func:`render_sharp_loop`."""
        self.still = image.permute(0, 2, 3, 1)
        self.readers = [SharpReader(image[b], LOW_PASS_SIGMA, on_step, regions=_behind_regions(plan, b, image.shape))
                        for b in range(image.shape[0])]
        self.layers = [_LayerCursor(layer, image, on_step, feathers)
                       for layer, feathers in zip(plan.layers, stack_feathers(image, plan), strict=True)]

    def render(self, frame: torch.Tensor, t: int) -> None:
        """Frame ``t`` into ``frame`` [B, H, W, 3]."""
        frame.copy_(self.still)
        for layer in self.layers:
            layer.render(frame, self.readers, t)


def make_plan(flow: torch.Tensor | FlowStack, n_frames: int, *, transition: int | None = None,
              cycles: int | None = None, seed: int = 0, on_step: Callable[[], None] | None = None,
              image: torch.Tensor | None = None) -> LoopPlan | StackPlan:
    """The analysis pass alone: a :class:`LoopPlan` for a flow tensor, a :class:`StackPlan` for a stack (its
    ``warnings`` say where the flow cannot loop cleanly, a stack's ``notes`` what was done per layer);
    ``on_step()`` runs after each step of its traces. ``image`` [B, 3, H, W]: the still to be rendered, whose detail
    the stagger pattern must not hide (:mod:`models.loop.stagger_choice`); :func:`render_sharp_loop` passes it, so
    pass it too to make the plan it would make."""
    check_int(n_frames, "n_frames", 1)
    if cycles is not None and check_int(cycles, "cycles", 1) > n_frames:
        raise InputValueError(f"cycles ({cycles}) cannot exceed the frames ({n_frames})")
    if transition is not None:
        check_int(transition, "transition", 1)
    check_int(seed, "seed", 0)
    if image is not None:
        for layer_flow in _flows(flow):
            check_loop_inputs(image, layer_flow, n_frames, None)
    detail = None if image is None else still_detail(image)
    if isinstance(flow, FlowStack):
        refuse_cycles_with_stack(cycles)
        return plan_stack(flow, n_frames, transition=transition, seed=seed, on_step=on_step, detail=detail)
    check_flow(flow)
    return plan_loop(flow.float(), n_frames, transition, cycles, seed, on_step, detail=detail)


def check_plan(plan: LoopPlan | StackPlan, flow: torch.Tensor | FlowStack, n_frames: int) -> StackPlan:
    """The plan as a :class:`StackPlan`, refused when it was made for another frame count or another flow."""
    stacked = isinstance(flow, FlowStack)
    if stacked != isinstance(plan, StackPlan):
        raise InputValueError("the plan was made for " + ("a single flow, not a motion-layer stack" if stacked else
                              "a motion-layer stack, not a single flow") + ": make it with make_plan(flow, n_frames)")
    frames = plan.n_frames if stacked else plan.bounds[-1]
    if frames != n_frames or (not stacked and plan.start.shape[-1] != plan.sources.numel()):
        raise InputValueError(f"the plan was made for {frames} frames, not {n_frames}: make it with "
                              "make_plan(flow, n_frames)")
    if stacked:
        planned = {layer.label: layer.fingerprint for layer in plan.layers}
        matches = all(planned.get(layer.label, fp) == fp
                      for layer in flow.layers for fp in [flow_fingerprint(layer.flow.float())])
        matches &= set(planned) <= {layer.label for layer in flow.layers}
    else:
        matches = plan.fingerprint == flow_fingerprint(flow.float())
    if not matches:
        raise InputValueError("the plan was made for another flow: make it with make_plan(flow, n_frames) for the "
                              "flow you render")
    return plan if stacked else single_layer_plan(flow.float(), plan)


def _flows(flow: torch.Tensor | FlowStack) -> list[torch.Tensor]:
    return [layer.flow for layer in flow.layers] if isinstance(flow, FlowStack) else [flow]


def _behind_regions(plan: StackPlan, item: int, shape: torch.Size) -> list[torch.Tensor]:
    """[H, W] bool masks of the ``behind`` layers in batch item ``item``: each low band is blurred within its own."""
    height, width = shape[-2:]
    return [owned_region(layer, item, (height, width)) for layer in plan.layers if layer.nearest is not None]


class _LayerCursor:
    """Walks one layer through the loop: its cycle, its traces, the positions of its pixels."""

    def __init__(self, layer: LayerPlan, image: torch.Tensor, on_step: Callable[[], None] | None,
                 feathers: list[Feather | None]) -> None:
        self.layer, self.on_step, self.feathers = layer, on_step, feathers
        height, width = image.shape[-2:]
        self.broad = None if layer.nearest is None else [
            BroadBand(image[b], owned_region(layer, b, (height, width))) for b in range(image.shape[0])]
        sources = layer.plan.sources
        self.xy = torch.stack((sources % width, torch.div(sources, width, rounding_mode="floor"))).to(
            layer.flow.dtype)
        self.all_moving = bool(layer.moving.all())
        batch = layer.flow.shape[0] if layer.nearest is None else max(layer.flow.shape[0], layer.nearest.shape[0])
        self.flow = layer.flow.expand(batch, -1, -1, -1)  # a view: one trace per item of a batch of masks
        self.cycle, self.steps = -1, None

    def render(self, frame: torch.Tensor, readers: list[SharpReader], t: int) -> None:
        """Write this layer's pixels of frame ``t`` into ``frame`` [B, H, W, 3] (holding the still)."""
        plan = self.layer.plan
        if plan.sources.numel() == 0:
            return
        if t == plan.bounds[self.cycle + 1]:
            self.cycle += 1
            length = plan.bounds[self.cycle + 1] - t
            self.steps = loop_compact_displacements(self.flow, length, TRACE_INTEGRATION, leave="continue",
                                                    on_step=self.on_step, sources=plan.sources, reverse=True,
                                                    lookup=self.layer.nearest)
            if self.broad is not None:
                k = self.cycle
                weight = one_phase_weight(plan.end[k] - plan.start[k], plan.fade_end[k] - plan.fade_start[k], length)
                self.balances = [band.balance(batch_item(weight, b), plan.sources, self.xy)
                                 for b, band in enumerate(self.broad)]
        i, forward, backward = next(self.steps)
        if i > 0:
            self._render(frame, readers, i, forward, backward)

    def _render(self, frame: torch.Tensor, readers: list[SharpReader], i: int, forward: torch.Tensor,
                backward: torch.Tensor) -> None:
        batch, height, width, _ = frame.shape
        sources = self.layer.plan.sources
        pixels = frame.view(batch, height * width, 3)
        for b, reader in enumerate(readers):
            moving = batch_item(self.layer.moving, b)
            for part in pixel_chunks(sources.numel()):
                values = self._values(reader, b, part, i, batch_item(forward, b)[:, part],
                                      batch_item(backward, b)[:, part])
                if not self.all_moving and not bool(moving[part].all()):
                    still = ~moving[part]
                    values[still] = pixels[b, sources[part][still]]
                pixels[b].index_copy_(0, sources[part], values)

    def _values(self, reader: SharpReader, b: int, part: slice, i: int, forward: torch.Tensor,
                backward: torch.Tensor) -> torch.Tensor:
        """[P, 3] values at frame ``i`` of the layer's pixels ``part`` (of its sources) in batch item ``b``, whose
        traces end at ``forward``, ``backward`` [2, P]."""
        layer, plan, k = self.layer, self.layer.plan, self.cycle
        start, end = (batch_item(times[k], b)[part] for times in (plan.start, plan.end))
        fade_start, fade_end = (batch_item(times[k], b)[part] for times in (plan.fade_start, plan.fade_end))
        beta = smoothstep((i - start) / (end - start).clamp_min(1e-3))
        gamma = smoothstep((i - fade_start) / (fade_end - fade_start).clamp_min(1e-3))
        xy = self.xy[:, part]
        ahead, behind = xy + forward, xy + backward
        shift = None
        if self.broad is not None:
            height, width = reader.size
            traced = (torch.stack(reader.inside(*ahead)), torch.stack(reader.inside(*behind)))
            ahead, behind = (torch.stack(remap_into_layer(*ends, layer, b, (height, width))) for ends in traced)
            share = i / (plan.bounds[k + 1] - plan.bounds[k])
            shift = self.broad[b].shift(self.balances[b].part(part), xy, traced, (ahead, behind), share, gamma)
        return apply_feather(_blend(reader, ahead, behind, beta, gamma, shift), self.feathers[b], part)


def _blend(reader: SharpReader, forward: torch.Tensor, backward: torch.Tensor, beta: torch.Tensor,
           gamma: torch.Tensor, shift: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """[M, 3] values of the moving pixels from their forward/backward positions [2, M]: the low band cross-faded
    with weight γ [M] (plus ``shift``: [K] positions and [K, 3] values, :meth:`BroadBand.shift`), the detail taken
    from one phase or, where 0 < β < 1, mixed variance-preservingly."""
    low_f, low_b = reader.low(forward[0], forward[1]), reader.low(backward[0], backward[1])
    later = beta >= 1
    rows = torch.where(later, reader.index(backward[0], backward[1]), reader.index(forward[0], forward[1]))
    detail = reader.fine.index_select(0, rows).sub_(torch.where(later.unsqueeze(1), low_b, low_f))
    mixing = ((beta > 0) & ~later).nonzero().squeeze(1)
    if mixing.numel():
        b = beta[mixing].unsqueeze(1)
        a = 1 - b
        other = reader.sharp(backward[0, mixing], backward[1, mixing]) - low_b[mixing]
        detail[mixing] = (a * detail[mixing] + b * other) / torch.sqrt(a * a + b * b)
    values = torch.lerp(low_f, low_b, gamma.unsqueeze(1)).add_(detail)
    if shift is not None:
        values.index_add_(0, *shift)
    return torch.clamp(values, reader.lowest, reader.highest, out=values)
