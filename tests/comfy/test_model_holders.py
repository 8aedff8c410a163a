"""One way to hold models: CLIP and ODISE (Region Mask) go through ModelPatcher + model_management like the networks
of the loader nodes: loaded once, on the compute device when used, dropped when ComfyUI unloads them."""

from __future__ import annotations

import comfy.model_management
import torch


def test_model_cache_loads_once_and_is_freed_when_comfyui_unloads(t2c_pack):
    from text2cinemagraph.nodes.holders import ModelCache

    loads = []

    def load(name):
        module = torch.nn.Linear(4, 4)
        loads.append(name)
        return {"name": name, "module": module}, module

    cache = ModelCache(load)
    first = cache("a")
    assert cache("a") is first and loads == ["a"], "a second use must reuse the loaded model"
    managed = [getattr(m.model, "model", None) for m in comfy.model_management.current_loaded_models]
    assert any(getattr(model, "network", None) is first["module"] for model in managed), \
        "the model must be in ComfyUI's list of loaded models"

    comfy.model_management.unload_all_models()
    again = cache("a")
    assert again is not first and loads == ["a", "a"], "after ComfyUI unloads it, the next use loads it again"

    cache("b")
    assert loads == ["a", "a", "b"] and len(cache._entries) == 1, "one model name at a time, as before"
    cache.cache_clear()
    comfy.model_management.unload_all_models()


def test_region_mask_holds_clip_and_odise_through_the_cache(t2c_pack):
    from text2cinemagraph.nodes import region
    from text2cinemagraph.nodes.holders import ModelCache

    assert isinstance(region._clip, ModelCache) and isinstance(region._odise, ModelCache)
