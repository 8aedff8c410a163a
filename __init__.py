"""Text2Cinemagraph for ComfyUI: text- or painting-driven seamless cinemagraphs (V3 node API).

ComfyUI imports are deferred to ``comfy_entrypoint`` so this module imports anywhere (pytest collects the
repository root as a package and imports this file, where ComfyUI is not on the path).

Inside a ComfyUI older than ``REQUIRES_COMFYUI`` (``[tool.comfy] requires-comfyui`` in pyproject.toml) the pack
logs one line naming the version it needs and registers nothing, instead of failing with import tracebacks:
ComfyUI before the V3 node API never calls ``comfy_entrypoint``, and later ones would fail inside it.
"""

import logging
import sys

REQUIRES_COMFYUI = (0, 3, 75)  # keep equal to requires-comfyui in pyproject.toml (tests/unit/test_pack.py)

WEB_DIRECTORY = "./web"


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def _comfyui_version() -> str | None:
    """The running ComfyUI's version, "" for one too old to say (no comfyui_version.py), None outside ComfyUI."""
    if "folder_paths" not in sys.modules and "comfy" not in sys.modules:
        return None  # imported by pytest or a script, not by ComfyUI's custom-node loader
    try:
        import comfyui_version
    except ImportError:
        return ""
    return str(getattr(comfyui_version, "__version__", ""))


def comfyui_too_old(version: str | None) -> bool:
    return version is not None and (not version or _version_tuple(version) < REQUIRES_COMFYUI)


_RUNNING = _comfyui_version()
if comfyui_too_old(_RUNNING):
    _NEEDED = ".".join(map(str, REQUIRES_COMFYUI))
    logging.error(
        "[Text2Cinemagraph] needs ComfyUI >= %s (V3 node API), this is ComfyUI %s: update ComfyUI "
        "(git pull, or Manager → Update ComfyUI) to use its nodes; nothing was loaded.",
        _NEEDED, _RUNNING or "< 0.3.11")
    NODE_CLASS_MAPPINGS: dict = {}  # loaders of every age accept an empty mapping without a warning of their own
    WEB_DIRECTORY = None
else:

    async def comfy_entrypoint():
        from .nodes import Text2CinemagraphExtension
        from .nodes.paths import register_model_folder
        from .nodes.samples import install_samples

        register_model_folder()
        install_samples()
        return Text2CinemagraphExtension()
