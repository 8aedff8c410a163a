"""The one vocabulary of things that move: which words name a region that moves, and how each kind moves.

Two stages read it. The twin prompt (:mod:`models.prompt.twin_prompt`) keeps the words of the artistic prompt
that name a moving region (:data:`REGION_NOUNS`); the learning-free flow engine (:mod:`models.flow.engine`)
picks a motion from the first kind the region label or the prompt names (:data:`CLASS_PRIORS`). Every word that
names a kind with a motion of its own is listed once, in that kind; :data:`UNCLASSED_NOUNS` names regions with no
motion of their own (water in general, weather, fountains, lava …), which only the twin prompt uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassPrior:
    """How a kind of region moves when the text gives no direction."""

    label: str
    words: tuple[str, ...]
    angle: float | None
    """θ in degrees, or None to flow along the region's main axis."""
    speed: float
    """Multiplier of the strength."""
    motion: str
    """Plain words for the result's ``source`` line."""

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"\b(?:{'|'.join(self.words)})\b", re.IGNORECASE)


CLASS_PRIORS: tuple[ClassPrior, ...] = (
    ClassPrior("waterfall", ("waterfall", "waterfalls", "falls", "cascade", "cascades"), 270.0, 1.3, "down"),
    ClassPrior("river", ("river", "rivers", "stream", "streams", "creek", "creeks", "brook", "rapids"),
               None, 1.0, "along the region's axis"),
    ClassPrior("sea", ("sea", "seas", "ocean", "oceans", "wave", "waves", "lake", "lakes", "pond"),
               270.0, 0.5, "gently towards the viewer"),
    ClassPrior("clouds", ("cloud", "clouds", "sky", "skies", "fog", "mist", "haze"), 0.0, 0.6, "horizontal"),
    ClassPrior("smoke", ("smoke", "steam", "fire", "fires", "flame", "flames", "vapour", "vapor"), 90.0, 0.8, "up"),
)
"""Kinds of region → motion, used when no direction is given (region words first, then the prompt; the
earliest word in a text wins, since a prompt usually names its subject first)."""

VERB_FORMS: frozenset[str] = frozenset({"falls"})
"""Words of a kind that are usually verbs in a prompt ("a waterfall falls from hills"): they pick a motion but
are no noun of the twin prompt."""

UNCLASSED_NOUNS: tuple[str, ...] = (
    "water", "cloudy", "thunderstorm", "thunderstorms", "puddle", "puddles", "brooks", "fountain", "fountains",
    "ponds", "lagoon", "surf", "tide", "ripples", "storm", "storms", "lava", "aurora", "auroras",
)
"""Regions that move but have no motion of their own here (the region's shape decides)."""

OFFICIAL_NOUNS: tuple[str, ...] = (
    "waterfall", "waterfalls", "river", "rivers", "sea", "ocean", "stream", "lake", "lakes", "sky", "cloud",
    "clouds", "cloudy", "thunderstorm", "thunderstorms", "wave", "waves", "puddle", "puddles",
)
"""``dataset/nouns.json`` of the official repository (docs/pipeline.md#twin-prompt); all of them are in
:data:`REGION_NOUNS`."""

REGION_NOUNS: frozenset[str] = frozenset(
    [word for prior in CLASS_PRIORS for word in prior.words if word not in VERB_FORMS] + list(UNCLASSED_NOUNS)
)
"""Every noun that names a region that moves: the twin prompt keeps these words of the artistic prompt."""


def find_prior(*texts: str) -> ClassPrior | None:
    """The prior of the first text that names a kind (earliest word within it), else None."""
    for text in texts:
        hits = [(match.start(), prior) for prior in CLASS_PRIORS if (match := prior.pattern.search(text))]
        if hits:
            return min(hits, key=lambda hit: hit[0])[1]
    return None
