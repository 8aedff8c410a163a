"""The official Text2Cinemagraph generators reimplemented in pure PyTorch (inference only).

* :class:`TextFlowNet` — A, ``spadexattnunetsd``: image + mask + CLIP text tokens → flow;
* :class:`HintFlowNet` — B, ``spadeunet``: image + mask + direction hint → flow;
* :class:`SplatVideoNet` — C, ``spadeunet4softmaxsplating``: image + flow → looping video frames.

Each is built with no arguments in the official inference configuration and loads the released
``latest_net_G.pth`` state dict strictly (:mod:`.checkpoints`); :mod:`.inference` wraps them with the
official pre- and post-processing. Layer tables and loading rules: docs/networks.md.
"""

from .checkpoints import (
    NETWORKS,
    convert_to_safetensors,
    detect_network,
    load_flow_network,
    load_network,
    load_video_network,
    network_from_state_dict,
    read_state_dict,
)
from .hint_flow import HintFlowNet
from .inference import (
    MOTION_NORM,
    OFFICIAL_HINT_PX_PER_FRAME,
    direction_hint,
    predict_hint_flow,
    predict_text_flow,
    render_loop_with_network,
)
from .splat_video import EncodedPair, SplatVideoNet
from .text_flow import TextFlowNet

__all__ = [
    "MOTION_NORM",
    "NETWORKS",
    "OFFICIAL_HINT_PX_PER_FRAME",
    "EncodedPair",
    "HintFlowNet",
    "SplatVideoNet",
    "TextFlowNet",
    "convert_to_safetensors",
    "detect_network",
    "direction_hint",
    "load_flow_network",
    "load_network",
    "load_video_network",
    "network_from_state_dict",
    "predict_hint_flow",
    "predict_text_flow",
    "read_state_dict",
    "render_loop_with_network",
]
