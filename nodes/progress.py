"""A per-item progress callback that also makes long loops cancellable."""

from __future__ import annotations

import comfy.model_management
import comfy.utils


class FrameProgress:
    """Call once per finished item: advances the node's progress bar and raises if the user pressed Cancel."""

    def __init__(self, total: int):
        self.bar = comfy.utils.ProgressBar(total)

    @staticmethod
    def cancel_point() -> None:
        """Raise if the user pressed Cancel (for loops that have no progress bar of their own)."""
        comfy.model_management.throw_exception_if_processing_interrupted()

    def __call__(self, _index: int = 0) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        self.bar.update(1)
