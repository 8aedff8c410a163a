"""Text2Cinemagraph for ComfyUI: text- or painting-driven seamless cinemagraphs (V3 node API).

ComfyUI imports are deferred to ``comfy_entrypoint`` so this module imports anywhere (pytest collects the
repository root as a package and imports this file, where ComfyUI is not on the path).
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes import Text2CinemagraphExtension
    from .nodes.paths import register_model_folder

    register_model_folder()
    return Text2CinemagraphExtension()
