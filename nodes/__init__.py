"""ComfyUI node classes (thin V3 wrappers around ``models/``) and the extension that lists them."""

from comfy_api.latest import ComfyExtension, io

from .animate import Animate
from .flow import FlowPreview, TextFlow
from .loaders import FlowModelLoader, VideoModelLoader
from .save import SaveCinemagraph

NODES: list[type[io.ComfyNode]] = [
    TextFlow,
    FlowPreview,
    FlowModelLoader,
    Animate,
    VideoModelLoader,
    SaveCinemagraph,
]


class Text2CinemagraphExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
