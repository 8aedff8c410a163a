"""The bundled sample painting reaches ComfyUI's input folder on start-up, never over a user's file."""

from __future__ import annotations

import logging
import os

import folder_paths
import pytest
from comfy_server import REPO_ROOT

SAMPLES = ("sample_painting.png", "sample_painting_mask.png", "sample_painting_layers.png")


@pytest.fixture()
def input_dir(tmp_path):
    previous = folder_paths.get_input_directory()
    folder_paths.set_input_directory(str(tmp_path))
    yield tmp_path
    folder_paths.set_input_directory(previous)


def test_entrypoint_copies_the_samples_into_the_input_folder(t2c_pack, input_dir, caplog):
    import asyncio

    with caplog.at_level(logging.INFO):
        asyncio.run(t2c_pack.comfy_entrypoint())
    for name in SAMPLES:
        assert (input_dir / name).read_bytes() == (REPO_ROOT / "assets" / name).read_bytes()
    lines = [r.getMessage() for r in caplog.records if "[Text2Cinemagraph]" in r.getMessage()]
    assert len(lines) == 1 and "sample_painting.png" in lines[0] and str(input_dir) in lines[0]
    # Load Image lists it (what the bundled workflows select)
    assert "sample_painting.png" in folder_paths.filter_files_content_types(os.listdir(input_dir), ["image"])


def test_second_start_copies_nothing_and_logs_nothing(t2c_pack, input_dir, caplog):
    from text2cinemagraph.nodes.samples import install_samples

    assert install_samples() == list(SAMPLES)
    with caplog.at_level(logging.INFO):
        assert install_samples() == []
    assert not [r for r in caplog.records if "[Text2Cinemagraph]" in r.getMessage()]


def test_a_users_file_of_the_same_name_is_never_overwritten(t2c_pack, input_dir):
    from text2cinemagraph.nodes.samples import install_samples

    (input_dir / "sample_painting.png").write_bytes(b"the user's own picture")
    assert install_samples() == ["sample_painting_mask.png", "sample_painting_layers.png"]
    assert (input_dir / "sample_painting.png").read_bytes() == b"the user's own picture"


def test_an_unwritable_input_folder_costs_one_warning(t2c_pack, tmp_path, caplog):
    from text2cinemagraph.nodes.samples import install_samples

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the input folder should be")
    with caplog.at_level(logging.INFO):
        assert install_samples(str(blocked)) == []
    lines = [r for r in caplog.records if "[Text2Cinemagraph]" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING and "by hand" in lines[0].getMessage()
