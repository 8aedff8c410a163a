"""ComfyUI node classes (thin V3 wrappers around ``models/``) and the extension that lists them."""

from comfy_api.latest import ComfyExtension, io

from .animate import Animate
from .flow import FlowPreview, TextFlow
from .loaders import FlowModelLoader, VideoModelLoader
from .region import RegionMask
from .save import SaveCinemagraph
from .twin import TwinPrompt, TwinSampler

NODES: list[type[io.ComfyNode]] = [  # in pipeline order, which is also the README's order
    TwinPrompt,
    TwinSampler,
    RegionMask,
    TextFlow,
    FlowPreview,
    FlowModelLoader,
    VideoModelLoader,
    Animate,
    SaveCinemagraph,
]


class Text2CinemagraphExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
