"""Which steps of the twin sampler inject the artistic image's attention and features, which are averaged into
the attention capture, and the twin's negative-prompt weights (docs/pipeline.md#2-twin-sampler)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..models.checks import check_int, check_number

STEPLESS_SAMPLERS = ("dpm_fast", "dpm_adaptive")
"""Samplers that choose their own sigmas instead of walking the schedule's steps: the injection and capture steps
never come, so the twin has no layout and no attention is captured. Not offered by Twin Sampler."""

CAPTURE_FRACTION = 0.56
"""Share of the steps (the least noisy ones) whose attention is averaged: official t ≤ 541, 28 of 50."""


def steps_of(fraction: float, steps: int) -> int:
    """How many of ``steps`` a fraction covers, rounded half up (0.52 of 50 = 26, 0.82 of 50 = 41)."""
    return min(steps, max(0, math.floor(fraction * steps + 0.5)))


@dataclass(frozen=True)
class TwinSchedule:
    """Which steps (0 = noisiest) inject and capture, and the twin's negative-prompt weights."""

    steps: int
    attention_steps: int
    """Steps 0 … attention_steps−1 inject self-attention q/k."""
    feature_steps: int
    """Steps 0 … feature_steps−1 inject the ResBlock residual."""
    capture_from: int
    """Steps capture_from … steps−1 are averaged into the attention capture."""
    negative_alphas: tuple[float, ...] | None
    """α_i per step (weight of the unconditional prediction in the twin's baseline); None = no negative prompt."""

    @classmethod
    def from_fractions(cls, steps: int, attention: float, features: float, negative_alpha: float) -> TwinSchedule:
        """Official defaults: 0.52 → 26 of 50, 0.82 → 41 of 50; α linear from ``negative_alpha`` to 0; α ≥ 1 = off."""
        for name, value in (("attention_injection", attention), ("feature_injection", features),
                            ("negative_alpha", negative_alpha)):
            check_number(value, name, minimum=0.0, maximum=1.0, expected="a fraction")
        check_int(steps, "steps", 1)
        alphas = None
        if negative_alpha < 1.0:
            alphas = tuple(negative_alpha * (1.0 - i / (steps - 1)) if steps > 1 else negative_alpha
                           for i in range(steps))
        return cls(steps, steps_of(attention, steps), steps_of(features, steps),
                   steps - max(1, steps_of(CAPTURE_FRACTION, steps)), alphas)


def step_index(sample_sigmas: torch.Tensor, sigma: torch.Tensor) -> int:
    """The step (0 = noisiest) a model call belongs to; intermediate σ of 2nd-order samplers count to their step."""
    above = int((sample_sigmas[:-1] >= float(sigma) * (1 - 1e-4)).sum())
    return max(above - 1, 0)
