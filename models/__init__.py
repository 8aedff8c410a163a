"""Pure torch/numpy algorithms and networks of Text2Cinemagraph.

Nothing in this package imports ComfyUI, so it can be used and unit-tested on its own
(with the repository root on ``sys.path``: ``from models import softsplat``).
"""
