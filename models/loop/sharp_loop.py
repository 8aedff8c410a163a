"""The "sharp loop" pixel engine: a seamless loop that keeps the still's detail (docs/loop.md).

The classic engine (:mod:`models.pixel_animator`) splats the image forward i steps and backward N − i steps and
blends the two with weights 1 − i/N and i/N: every moving pixel is a 50/50 double exposure at frame N/2, and
bilinear splatting blurs fine texture. Here, for every moving pixel p and frame i of a cycle of L frames:

* **Gathering.** The forward phase reads the still where p's content was i Euler steps earlier (a trace back
  along the flow), the backward phase where it will be L − i steps later. Both traces advance one step per frame
  (:func:`models.euler.loop_compact_displacements`: O(L) steps, O(√L) stored fields) and the still is read with a
  sharp one-tap sampler (:mod:`models.sharp_resample`). No splat holes, no blur that grows with time.
* **Staggered, placed transitions.** Each pixel turns from the forward to the backward phase over a short window
  of its own, placed by a one-time analysis where both phases are still undistorted and spread over the cycle
  (:mod:`models.sharp_plan`), so only a few patches are mid-transition at any frame.
* **Two bands.** The low band (σ = 4 px blur) fades slowly over a wide window (a staggered switch of a smooth
  gradient would show a front); the detail switches in the pixel's short window, the two details mixed with
  weights a, b divided by √(a² + b²) (variance-preserving blending, Heitz & Neyret 2018), so contrast is kept.
* **Cycles.** Where the flow distorts texture quickly, the loop is made of two cycles (each starts and ends on
  the still), so no texture is carried far enough to distort.

Frame 0 is the input, each cycle ends on the input (the loop closes with no seam), and every pixel whose flow
is zero is copied from the input bit-exactly in every frame.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import torch

from ..checks import InputValueError, check_int
from ..flow.ops import validate_flow
from .common import check_loop_inputs, loop_buffer
from .euler import loop_compact_displacements
from .sharp_plan import LoopPlan, plan_loop
from .sharp_resample import SharpReader

TRACE_INTEGRATION = "round"
LOW_PASS_SIGMA = 4.0
"""px: the blur that splits the still into the low band (slow, wide fade) and the detail (short, staggered switch)."""


def render_sharp_loop(
    image: torch.Tensor,
    flow: torch.Tensor,
    n_frames: int,
    *,
    out: torch.Tensor | None = None,
    on_frame: Callable[[int], None] | None = None,
    transition: int | None = None,
    cycles: int | None = None,
    seed: int = 0,
    plan: LoopPlan | None = None,
    on_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Render a seamless loop [B, N, H, W, 3] (float32) of ``image`` [B, 3, H, W] along ``flow`` [B|1, 2, H, W].

    ``transition``: frames each pixel takes to switch phase (default
    :func:`models.loop.sharp_plan.default_transition`); ``cycles``: cycles per loop (default
    :func:`models.loop.sharp_plan.choose_cycles`); ``seed``: the stagger pattern; ``plan``: a ready
    :class:`LoopPlan` for this flow and frame count (skips the analysis). ``out``, ``on_frame`` and ``on_step``
    as in :func:`models.loop.pixel_animator.render_loop`. To read the analysis' warnings, make the plan first
    (:func:`make_plan`) and pass it.
    """
    check_loop_inputs(image, flow, n_frames, on_frame)
    image, flow = image.float(), flow.float()
    batch, _, height, width = image.shape
    out = loop_buffer(out, image, n_frames)
    if plan is None:
        plan = make_plan(flow, n_frames, transition=transition, cycles=cycles, seed=seed, on_step=on_step)
    elif plan.bounds[-1] != n_frames or plan.start.shape[-1] != plan.sources.numel():
        raise InputValueError(f"the plan was made for {plan.bounds[-1]} frames, not {n_frames}: make it with "
                              "make_plan(flow, n_frames)")
    still = image.permute(0, 2, 3, 1)
    sources = plan.sources
    readers = [SharpReader(image[b], LOW_PASS_SIGMA, on_step) for b in range(batch)]
    xy = torch.stack((sources % width, torch.div(sources, width, rounding_mode="floor"))).to(image.dtype)
    # Per item: a pixel tracked for another item of the batch may be still in this one.
    moving = (flow != 0).any(dim=1).flatten(1)[:, sources]
    frames = out.view(batch, n_frames, height * width, 3)
    for k, (first, last) in enumerate(pairwise(plan.bounds)):
        start, span = plan.start[k], (plan.end[k] - plan.start[k]).clamp_min(1e-3)
        fade_start, fade_span = plan.fade_start[k], (plan.fade_end[k] - plan.fade_start[k]).clamp_min(1e-3)
        steps = loop_compact_displacements(-flow, last - first, TRACE_INTEGRATION, leave="continue", on_step=on_step)
        for i, forward, backward in steps:
            out[:, first + i].copy_(still)
            if i > 0 and sources.numel():
                beta = _smoothstep((i - start) / span)
                gamma = _smoothstep((i - fade_start) / fade_span)
                for b, reader in enumerate(readers):
                    f = b if forward.shape[0] > 1 else 0
                    p = b if beta.shape[0] > 1 else 0
                    values = _blend(reader, xy + forward[f], xy + backward[f], beta[p], gamma[p])
                    if not bool(moving[f].all()):
                        values[~moving[f]] = still[b].reshape(-1, 3)[sources[~moving[f]]]
                    frames[b, first + i].index_copy_(0, sources, values)
            if on_frame is not None:
                on_frame(first + i)
    return out


def make_plan(flow: torch.Tensor, n_frames: int, *, transition: int | None = None, cycles: int | None = None,
              seed: int = 0, on_step: Callable[[], None] | None = None) -> LoopPlan:
    """The analysis pass alone (its ``warnings`` say where the flow cannot loop cleanly); ``on_step()`` runs after
    each step of its traces."""
    validate_flow(flow)
    check_int(n_frames, "n_frames", 1)
    if cycles is not None and check_int(cycles, "cycles", 1) > n_frames:
        raise InputValueError(f"cycles ({cycles}) cannot exceed the frames ({n_frames})")
    if transition is not None:
        check_int(transition, "transition", 1)
    check_int(seed, "seed", 0)
    return plan_loop(flow.float(), n_frames, transition, cycles, seed, on_step)


def _blend(reader: SharpReader, forward: torch.Tensor, backward: torch.Tensor, beta: torch.Tensor,
           gamma: torch.Tensor) -> torch.Tensor:
    """[M, 3] values of the moving pixels from their forward/backward positions [2, M]: the low band cross-faded
    with weight γ [M], the detail taken from one phase or, where 0 < β < 1, mixed variance-preservingly."""
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
    return torch.clamp(values, reader.lowest, reader.highest, out=values)


def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    t = t.clamp(0, 1)
    return t * t * (3 - 2 * t)
