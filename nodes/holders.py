"""One way to hold models: every network the pack loads goes through ComfyUI's ``ModelPatcher`` and
``comfy.model_management``.

``model_management`` moves a held network to the compute device when a node needs it (evicting other models first
if memory is short) and back to the offload device when another model needs the memory. The official flow and
video networks arrive on sockets from their loader nodes; CLIP and ODISE, which Region Mask loads by itself, are
kept in a :class:`ModelCache`: loaded once, reused by every run, and dropped when ComfyUI unloads them (Unload
Models, or memory needed elsewhere), so the next run loads them again instead of holding them forever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

import comfy.model_management
import comfy.model_patcher
import comfy.patcher_extension
import torch


class _Holder(torch.nn.Module):
    """What ModelPatcher manages: it writes bookkeeping attributes (``device``, memory counters) onto its module,
    which must not collide with our networks' own properties."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network


def model_patcher(module: torch.nn.Module) -> comfy.model_patcher.ModelPatcher:
    """``module`` under ComfyUI's model management (compute device when used, offloaded when memory is needed)."""
    return comfy.model_patcher.ModelPatcher(
        _Holder(module), load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device())


def on_device(patcher: comfy.model_patcher.ModelPatcher) -> torch.nn.Module:
    """The managed module on the compute device (ComfyUI evicts other models first if memory is short)."""
    comfy.model_management.load_models_gpu([patcher])
    return patcher.model.network


class ModelCache:
    """Models loaded on first use by ``load(*key) → (value, module)`` and held through ComfyUI's model management:
    ``cache(*key)`` returns ``value`` with its ``module`` on the compute device. At most ``size`` keys are kept; an
    entry is dropped when ComfyUI unloads its module, and :meth:`cache_clear` drops them all."""

    def __init__(self, load: Callable[..., tuple[Any, torch.nn.Module]], size: int = 1):
        self.load, self.size = load, size
        self._entries: dict[Hashable, tuple[Any, comfy.model_patcher.ModelPatcher]] = {}
        self._lock = threading.Lock()

    def __call__(self, *key: Hashable) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                value, module = self.load(*key)
                patcher = model_patcher(module)
                patcher.add_callback(comfy.patcher_extension.CallbacksMP.ON_DETACH,
                                     lambda *_: self._forget(key, patcher))
                while len(self._entries) >= self.size:
                    self._entries.pop(next(iter(self._entries)))
                entry = self._entries[key] = (value, patcher)
        value, patcher = entry
        on_device(patcher)
        return value

    def _forget(self, key: Hashable, patcher: comfy.model_patcher.ModelPatcher) -> None:
        if self._entries.get(key, (None, None))[1] is patcher:
            del self._entries[key]

    def cache_clear(self) -> None:
        with self._lock:
            self._entries.clear()
