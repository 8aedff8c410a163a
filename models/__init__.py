"""Pure torch/numpy algorithms and networks of Text2Cinemagraph.

Nothing in this package imports ComfyUI, so it can be used and unit-tested on its own
(with the repository root on ``sys.path``: ``from models import softsplat``). The names below are
the stable public surface; the submodules hold the details.
"""

from .loop.euler import euler_integrate
from .loop.pixel_animator import render_loop
from .loop.splatting import softsplat
from .networks import (
    HintFlowNet,
    SplatVideoNet,
    TextFlowNet,
    convert_to_safetensors,
    load_flow_network,
    load_network,
    load_video_network,
)

__all__ = [
    "HintFlowNet",
    "SplatVideoNet",
    "TextFlowNet",
    "convert_to_safetensors",
    "euler_integrate",
    "load_flow_network",
    "load_network",
    "load_video_network",
    "render_loop",
    "softsplat",
]
