"""Memory preflight (issue 13, item 4): Animate and Save refuse a run that cannot fit, before allocating frames,
with the figures and a fix; an empty filename prefix gets the default."""


import pytest
import torch


@pytest.fixture()
def little_memory(memory_module, monkeypatch):
    monkeypatch.setattr(memory_module, "free_bytes", lambda: 2 * 10**9)
    return memory_module


def test_animate_refuses_what_cannot_fit_with_figures_and_a_fix(t2c_nodes, little_memory):
    # 1000 frames × 512×512 float32 RGB = 3.1 GB: refused before any frame is allocated.
    with pytest.raises(ValueError, match=r"1000 frames × 512×512 needs 3\.\d GB, 2\.0 GB free — fewer frames"):
        t2c_nodes["T2C_Animate"].execute(image=torch.zeros(1, 512, 512, 3), flow=torch.zeros(1, 2, 8, 8),
                                         frames=1000, speed=1.0, max_px_per_frame=0.0, integration="round")


def test_animate_runs_what_fits(t2c_nodes, little_memory):
    frames = t2c_nodes["T2C_Animate"].execute(image=torch.zeros(1, 32, 32, 3), flow=torch.zeros(1, 2, 8, 8),
                                              frames=4, speed=1.0, max_px_per_frame=0.0,
                                              integration="round").result[0]
    assert frames.shape == (4, 32, 32, 3)


def test_the_estimate_covers_the_frames(memory_module):
    assert memory_module.animate_bytes(1, 1000, 1024, 1024) >= 1000 * 1024 * 1024 * 3 * 4
    assert memory_module.save_bytes(4096, 4096) >= 4096 * 4096 * 3 * 4  # one conversion chunk: at least a frame


def test_save_refuses_what_cannot_fit(t2c_nodes, memory_module, monkeypatch, comfy_output_dir):
    monkeypatch.setattr(memory_module, "free_bytes", lambda: 10**6)
    with pytest.raises(ValueError, match=r"Save Cinemagraph: 20 frames × 64×64 needs .* GB free — a smaller image"):
        t2c_nodes["T2C_SaveCinemagraph"].execute(frames=torch.zeros(20, 64, 64, 3), filename_prefix="x", fps=30.0,
                                                 format="gif", quality=90)
    assert not list(comfy_output_dir.rglob("*.gif"))


@pytest.mark.parametrize("prefix", ["", "   "])
def test_an_empty_prefix_gets_the_default(t2c_nodes, comfy_output_dir, prefix):
    t2c_nodes["T2C_SaveCinemagraph"].execute(frames=torch.rand(3, 16, 16, 3), filename_prefix=prefix, fps=10.0,
                                             format="gif", quality=90)
    written = [p.relative_to(comfy_output_dir).as_posix() for p in comfy_output_dir.rglob("*.gif")]
    assert written and all(p.startswith("cinemagraph/loop_") for p in written)


@pytest.mark.parametrize("fmt", ["mp4", "gif", "webp"])
def test_save_honours_cancel_and_leaves_no_file(t2c_nodes, comfy_output_dir, fmt):
    import comfy.model_management

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            t2c_nodes["T2C_SaveCinemagraph"].execute(frames=torch.rand(6, 16, 16, 3), filename_prefix="cancel/loop",
                                                     fps=10.0, format=fmt, quality=90)
    finally:
        comfy.model_management.interrupt_current_processing(False)
    assert [p for p in comfy_output_dir.rglob("*") if p.is_file()] == []
