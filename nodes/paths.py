"""Where our weights live: ComfyUI's ``models/text2cinemagraph/`` (plus any extra_model_paths.yaml entries)."""

from __future__ import annotations

import os

import folder_paths

MODEL_FOLDER = "text2cinemagraph"
WEIGHT_EXTENSIONS = {".safetensors", ".pth", ".pt"}


def register_model_folder() -> None:
    """Append (never replace) our folder, so paths a user set in extra_model_paths.yaml keep priority."""
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER))
    folder_paths.folder_names_and_paths[MODEL_FOLDER][1].update(WEIGHT_EXTENSIONS)


def model_dirs() -> list[str]:
    return folder_paths.get_folder_paths(MODEL_FOLDER)
