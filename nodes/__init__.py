"""ComfyUI node classes (thin V3 wrappers around ``models/``) and the extension that lists them."""

from comfy_api.latest import ComfyExtension, io

from .save import SaveCinemagraph

NODES: list[type[io.ComfyNode]] = [
    SaveCinemagraph,
]


class Text2CinemagraphExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
