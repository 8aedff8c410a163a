"""Start and drive a real ComfyUI (``.comfyui/`` or ``COMFYUI_DIR``) on 127.0.0.1: used by the tests and the demo.

A missing ComfyUI is an error naming the command that fixes it (for tests: a failure, never a silent skip).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACK_NAME = "text2cinemagraph"


def comfy_dir() -> Path:
    path = Path(os.environ.get("COMFYUI_DIR", REPO_ROOT / ".comfyui")).resolve()
    if not (path / "main.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path} (main.py missing): run `bash scripts/setup.sh` first")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ComfyServer:
    """A real ``main.py`` process on 127.0.0.1 with its own input/output/user/model folders under ``workdir``."""

    def __init__(self, workdir: Path, port: int | None = None, comfy_root: Path | None = None):
        self.workdir = Path(workdir)
        self.comfy_root = comfy_root  # None: .comfyui/ or COMFYUI_DIR
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for name in ("input", "output", "temp", "user/default", "models/text2cinemagraph", "models/checkpoints",
                     "models/text_encoders"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        (self.workdir / "user/default/comfy.settings.json").write_text(
            json.dumps({"Comfy.TutorialCompleted": True}))
        (self.workdir / "extra_model_paths.yaml").write_text(
            f"t2c_tests:\n  base_path: {self.workdir / 'models'}\n  text2cinemagraph: text2cinemagraph/\n"
            f"  checkpoints: checkpoints/\n  text_encoders: text_encoders/\n")
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen | None = None

    @property
    def input_dir(self) -> Path:
        return self.workdir / "input"

    @property
    def output_dir(self) -> Path:
        return self.workdir / "output"

    @property
    def temp_dir(self) -> Path:
        """Where previews go: ComfyUI puts its temp folder *inside* ``--temp-directory``."""
        return self.workdir / "temp" / "temp"

    @property
    def models_dir(self) -> Path:
        return self.workdir / "models"

    def start(self, timeout: float = 120.0) -> ComfyServer:
        cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--disable-auto-launch", "--disable-api-nodes",
               "--input-directory", str(self.input_dir), "--output-directory", str(self.output_dir),
               "--temp-directory", str(self.workdir / "temp"), "--user-directory", str(self.workdir / "user"),
               "--database-url", "sqlite:///:memory:",
               "--extra-model-paths-config", str(self.workdir / "extra_model_paths.yaml")]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, cwd=self.comfy_root or comfy_dir(), stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            with contextlib.suppress(OSError):
                self.get("/system_stats")
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout} s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, route: str):
        with urllib.request.urlopen(self.url + route, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def post(self, route: str, payload: dict):
        request = urllib.request.Request(self.url + route, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"POST {route} -> {error.code}: {error.read().decode(errors='replace')}") from None

    def run_prompt(self, prompt: dict, timeout: float = 300.0) -> dict:
        """Queue an API-format prompt and wait for its history entry; raise with ComfyUI's own error on failure."""
        prompt_id = self.post("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex})["prompt_id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                status = entry["status"]
                if status.get("status_str") != "success":
                    raise RuntimeError(f"prompt failed: {_execution_error(status)}")
                return entry
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout} s:\n{self.log()[-3000:]}")

    def output_files(self, history_entry: dict) -> list[Path]:
        files = []
        for node_output in history_entry.get("outputs", {}).values():
            for item in node_output.get("images", []) + node_output.get("gifs", []):
                base = {"output": self.output_dir, "temp": self.temp_dir}.get(item.get("type"), self.input_dir)
                files.append(base / item.get("subfolder", "") / item["filename"])
        return files


def _execution_error(status: dict) -> str:
    """The node, exception and message of a failed prompt (its inputs dump can be megabytes of tensor text)."""
    for kind, data in status.get("messages") or []:
        if kind == "execution_error":
            return (f"node {data.get('node_id')} ({data.get('node_type')}): {data.get('exception_type')}: "
                    f"{str(data.get('exception_message'))[:2000]}\n" + "".join(data.get("traceback") or [])[-3000:])
    return json.dumps(status.get("messages"))[-2000:]
