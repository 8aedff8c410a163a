"""Out of the box after a ComfyUI Manager install (issue 14): the real Manager (`comfyui-manager` from PyPI, its
`cm-cli`) installs the pack from a `file://localhost` URL of this repository into a clean ComfyUI, which then
serves the bundled painting workflow in its template browser and runs it as handed over, with nothing copied by
hand. The Manager clones what is committed, as it would from GitHub.

It is collected in the current-ComfyUI leg of the test command only, where set-up put the Manager beside ComfyUI
0.33.0 (tests/server/conftest.py); there a missing Manager fails it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
from comfy_server import REPO_ROOT, ComfyServer, comfy_dir
from workflow_api import to_api


def _clean_comfyui(target: Path) -> Path:
    """The current ComfyUI's own files: no custom nodes, no user data, none of the leg's extra packages."""
    source = comfy_dir()
    skip = {"site-packages", "custom_nodes", "user", "input", "output", "temp", ".t2c-setup-stamp"}
    shutil.copytree(source, target, symlinks=True,
                    ignore=lambda folder, names: [n for n in names if Path(folder) == source and n in skip])
    (target / "custom_nodes").mkdir()
    return target


def _cm_cli(comfy: Path, *args: str) -> str:
    env = {**os.environ, "COMFYUI_PATH": str(comfy)}
    result = subprocess.run([sys.executable, "-m", "cm_cli", *args], cwd=comfy, env=env, capture_output=True,
                            text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"cm-cli {' '.join(args)} failed:\n{output[-4000:]}"
    return output


def test_manager_install_runs_the_painting_workflow_as_the_template_browser_hands_it_over(tmp_path):
    comfy = _clean_comfyui(tmp_path / "ComfyUI")
    url = f"file://localhost{REPO_ROOT}"
    # `--mode local`: the Manager's bundled node list, no channel download (this machine has no internet).
    output = _cm_cli(comfy, "install", "--mode", "local", url)
    assert f"[INSTALLED] {url}" in output, output[-3000:]
    installed = comfy / "custom_nodes" / REPO_ROOT.name
    assert (installed / ".git").is_dir() and (installed / "workflows" / "animate_painting.json").is_file(), \
        "the Manager did not clone the pack"

    server = ComfyServer(tmp_path / "server", comfy_root=comfy).start()
    try:
        assert "[Text2Cinemagraph] copied sample_painting.png, sample_painting_mask.png" in server.log()
        templates = server.get("/workflow_templates")
        pack = next(name for name, listed in templates.items() if "animate_painting" in listed)
        workflow = server.get(f"/api/workflow_templates/{pack}/animate_painting.json")
        assert workflow == json.loads((REPO_ROOT / "workflows" / "animate_painting.json").read_text())
        prompt = to_api(workflow, server.get("/object_info"))
        for node in prompt.values():
            if node["class_type"] == "T2C_Animate":
                node["inputs"]["frames"] = 12  # the workflow as shipped, shortened for a 2-core CI machine
        entry = server.run_prompt(prompt, timeout=600)
        videos = [path for path in server.output_files(entry) if path.suffix == ".mp4"]
        assert len(videos) == 1
        frames = iio.imread(videos[0], plugin="pyav")
        assert frames.shape == (12, 512, 768, 3)
        assert abs(frames[3].astype(int) - frames[0].astype(int)).mean() > 1.0, "the water should move"
    finally:
        server.stop()
