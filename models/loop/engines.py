"""The learning-free pixel engines by the names Animate's ``engine`` input shows."""

from __future__ import annotations

SHARP_LOOP = "sharp loop"
"""Gathering, placed staggered transitions, contrast-preserving mixing (models.loop.sharp_loop): the default."""
CLASSIC_SPLAT = "classic splat"
"""The official symmetric softmax splatting on pixels (models.loop.pixel_animator)."""
ENGINES = (SHARP_LOOP, CLASSIC_SPLAT)
LEGACY_ENGINE = CLASSIC_SPLAT
"""What a workflow saved before the engine input existed renders with, so it renders as it did."""
