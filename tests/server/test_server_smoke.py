"""The pack inside a real ComfyUI server: registered nodes, served JS, a clean log, a prompt that runs."""

import imageio.v3 as iio

T2C_CATEGORY = "Text2Cinemagraph"


def test_object_info_lists_our_nodes(comfy_server):
    info = comfy_server.get("/object_info")
    ours = {name: node for name, node in info.items() if name.startswith("T2C_")}
    assert "T2C_SaveCinemagraph" in ours
    assert all(node["category"].startswith(T2C_CATEGORY) for node in ours.values())


def test_extensions_serve_our_js(comfy_server):
    scripts = comfy_server.get("/extensions")
    ours = [path for path in scripts if "/text2cinemagraph/" in path]
    assert ours, f"our web/ folder is not served; /extensions = {scripts}"


def test_server_log_has_no_import_error_for_the_pack(comfy_server):
    log = comfy_server.log()
    assert "custom_nodes/text2cinemagraph" in log, "the pack was not seen by the loader"
    for line in log.splitlines():
        if "text2cinemagraph" in line:
            assert "IMPORT FAILED" not in line and "Cannot import" not in line, line


def test_start_up_log_shows_no_traceback(comfy_server):
    """The first log a newcomer opens (the demo's) is clean: set-up installs the torchaudio that ComfyUI's audio
    nodes import at start-up (scripts/setup.sh TORCHAUDIO_PIN)."""
    log = comfy_server.log()
    start_up = log[: log.find("To see the GUI go to")]
    assert "Starting server" in start_up, log[-3000:]
    assert "Traceback" not in start_up, start_up[start_up.find("Traceback") - 500 :][:3000]
    assert "torchaudio missing" not in start_up


def test_prompt_runs_and_writes_a_loop(comfy_server):
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 5, "color": 0x3366AA}},
        "2": {"class_type": "T2C_SaveCinemagraph",
              "inputs": {"frames": ["1", 0], "filename_prefix": "smoke/loop", "fps": 24.0, "format": "mp4",
                         "quality": 80, "pingpong": False}},
    }
    entry = comfy_server.run_prompt(prompt)
    files = comfy_server.output_files(entry)
    assert len(files) == 1 and files[0].is_file()
    frames = iio.imread(files[0], plugin="pyav")
    assert frames.shape[:3] == (5, 48, 64)
    assert abs(frames[..., 2].mean() - 0xAA) < 3  # the colour survived the round trip
