"""Loader nodes for the official networks, held through ComfyUI's ModelPatcher (nodes/holders.py) so
model_management loads and offloads them like any other model."""

from __future__ import annotations

from dataclasses import dataclass

import comfy.model_patcher
import folder_paths
from comfy_api.latest import io

from ..models import networks
from .holders import model_patcher, on_device
from .paths import MODEL_FOLDER
from .types import CATEGORY, FlowModel, VideoModel

_KIND_OF = {network_class: kind for kind, network_class in networks.NETWORKS.items()}


@dataclass
class LoadedNetwork:
    """What travels on a T2C_FLOW_MODEL / T2C_VIDEO_MODEL socket."""

    patcher: comfy.model_patcher.ModelPatcher
    kind: str
    filename: str

    def network(self):
        """The module on the compute device (ComfyUI evicts other models first if memory is short)."""
        return on_device(self.patcher)

    def render_loop(self, image, flow, n_frames, *, out=None, on_frame=None):
        return networks.render_loop_with_network(self.network(), image, flow, n_frames, out=out, on_frame=on_frame)


def _load(filename: str, kinds: tuple[str, ...]) -> LoadedNetwork:
    path = folder_paths.get_full_path_or_raise(MODEL_FOLDER, filename)
    module = networks.load_network(path, expect=kinds)
    return LoadedNetwork(model_patcher(module), _KIND_OF[type(module)], filename)


def _weights_input() -> io.Combo.Input:
    return io.Combo.Input("weights", options=folder_paths.get_filename_list(MODEL_FOLDER),
                          tooltip=f"A file in ComfyUI/models/{MODEL_FOLDER}/ (.pth or .safetensors), e.g. "
                                  "motion-pretrained/latest_net_G.pth from the official checkpoints.tar.")


class FlowModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_FlowModelLoader",
            display_name="Load Flow Model",
            category=CATEGORY,
            description="Loads an official flow network: the text-conditioned one (motion-pretrained, needs "
                        "an SD1.x conditioning) or the direction-hint one (motion-direction-pretrained). "
                        "Which one a file holds is detected from its weights.",
            inputs=[_weights_input()],
            outputs=[FlowModel.Output(display_name="flow_model")],
        )

    @classmethod
    def execute(cls, weights) -> io.NodeOutput:
        return io.NodeOutput(_load(weights, ("text_flow", "hint_flow")))


class VideoModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="T2C_VideoModelLoader",
            display_name="Load Video Model",
            category=CATEGORY,
            description="Loads the official softmax-splatting video network (video-pretrained) for Animate "
                        "Cinemagraph. It renders 512-ish images; the pixel engine needs no weights at all.",
            inputs=[_weights_input()],
            outputs=[VideoModel.Output(display_name="video_model")],
        )

    @classmethod
    def execute(cls, weights) -> io.NodeOutput:
        return io.NodeOutput(_load(weights, ("splat_video",)))
