"""The Comfy Registry pack: what `comfy node pack` / `publish` would zip, its size, icon and metadata.

comfy-cli 1.23 (``comfy_cli/file_utils.py::zip_files``) zips the output of ``git ls-files`` run in the
repository root, minus every path the root ``.comfyignore`` matches (non-blank lines not starting with ``#``,
stripped, read as ``pathspec.PathSpec.from_lines("gitwildmatch", …)``), plus ``[tool.comfy] includes``
(force-added). ``pack_files`` below repeats exactly that, so these tests see the registry zip.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pathspec
import pytest
import tomllib
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_PACK_BYTES = 2 * 1024 * 1024
ICON_MAX_PX = 400
# comfy_cli/registry/config_parser.py::validate_and_extract_accelerator_classifiers; an unknown one makes
# comfy-cli drop all accelerator information.
REGISTRY_ACCELERATORS = {
    "Environment :: GPU :: NVIDIA CUDA", "Environment :: GPU :: AMD ROCm", "Environment :: GPU :: Intel Arc",
    "Environment :: NPU :: Huawei Ascend", "Environment :: GPU :: Apple Metal",
}
REGISTRY_OS_PREFIXES = ("Microsoft", "POSIX", "MacOS", "OS Independent")
DEV_ONLY = ("tests/", "benchmarks/", ".ci/", "test-artifacts/", "requirements-dev.txt")


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _ignore_spec() -> pathspec.PathSpec | None:
    path = REPO_ROOT / ".comfyignore"
    if not path.exists():
        return None
    patterns = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    if not patterns:
        return None
    with warnings.catch_warnings():  # pathspec 1.x deprecates the name comfy-cli still uses; same semantics
        warnings.simplefilter("ignore", DeprecationWarning)
        spec = pathspec.PathSpec.from_lines("gitwildmatch", patterns)
        spec.match_file("")  # compile lazily-built patterns inside the filter too
    return spec


def pack_files() -> list[str]:
    """The repository paths comfy-cli would put in the registry zip (git-tracked, not .comfyignored)."""
    tracked = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files"], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    includes = [item.strip("/") for item in _pyproject()["tool"]["comfy"].get("includes", [])]
    spec = _ignore_spec()

    def ignored(path: str) -> bool:
        forced = any(path == item or path.startswith(item + "/") for item in includes)
        if not spec or forced:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return spec.match_file(path)

    files = [path for path in tracked if path.strip() and not ignored(path) and (REPO_ROOT / path).exists()]
    return sorted(files)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[list[str], Path]:
    files = pack_files()
    archive = tmp_path_factory.mktemp("pack") / "node.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipf:  # as comfy-cli writes it
        for path in files:
            zipf.write(REPO_ROOT / path, path)
    return files, archive


def test_pack_is_small(packed):
    files, archive = packed
    size = archive.stat().st_size
    largest = sorted(files, key=lambda p: (REPO_ROOT / p).stat().st_size, reverse=True)[:5]
    assert size < MAX_PACK_BYTES, f"registry zip is {size / 2**20:.2f} MB (limit 2 MB); largest files: {largest}"


def test_pack_holds_what_users_run(packed):
    files, _ = packed
    present = set(files)
    for required in ("__init__.py", "pyproject.toml", "requirements.txt", "README.md", "LICENSE",
                     "assets/sample_painting.png", "assets/sample_painting_mask.png",
                     "assets/sample_painting_layers.png", "docs/icon.png", "scripts/convert_checkpoint.py",
                     "nodes/__init__.py", "models/__init__.py", "models/networks/__init__.py"):
        assert required in present, f"{required} is missing from the registry zip"
    tracked_runtime = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "nodes", "models", "sampling", "web",
                                      "workflows"], check=True, capture_output=True, text=True).stdout.split()
    assert tracked_runtime and set(tracked_runtime) <= present, sorted(set(tracked_runtime) - present)


def test_every_top_level_runtime_package_ships(packed):
    """Every top-level package (a folder with __init__.py: nodes/, models/, sampling/) is packed, and a new one
    would be without editing the rules."""
    files, _ = packed
    tracked = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files"], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    packages = {path.split("/")[0] for path in tracked if path.count("/") == 1 and path.endswith("/__init__.py")}
    packages -= {"tests", "benchmarks", "scripts"}
    assert {"nodes", "models", "sampling"} <= packages
    for package in sorted(packages):
        assert f"{package}/__init__.py" in files, f"runtime package {package}/ is left out of the registry zip"
    # and the rule itself: a hypothetical new package and new asset-free files pass the ignore rules
    spec = _ignore_spec()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for path in ("newstage/__init__.py", "newstage/engine.py", "sampling/new_patch.py", "web/js/new_editor.js",
                     "workflows/new.json"):
            assert not spec.match_file(path), f".comfyignore would drop {path}"


def test_pack_holds_no_tests_goldens_benchmarks_or_ci(packed):
    files, _ = packed
    leaked = [path for path in files if path.startswith(DEV_ONLY)]
    assert not leaked, f"development files in the registry zip: {leaked[:10]}"
    for path in ("scripts/setup.sh", "scripts/test.sh", "scripts/comfy_server.py", "assets/sample_cinemagraph.gif"):
        assert path not in files, f"{path} (not run by users) is in the registry zip"
    docs = [path for path in files if path.startswith("docs/")]
    assert docs == ["docs/icon.png"], f"docs/ in the registry zip beyond the icon: {docs}"


def test_icon_exists_at_the_url_path_and_is_square():
    icon_url = _pyproject()["tool"]["comfy"]["Icon"]
    prefix = "https://raw.githubusercontent.com/text2cinemagraph-comfy/text2cinemagraph/main/"
    assert icon_url.startswith(prefix), f"Icon URL {icon_url} does not point into this repository's main branch"
    path = REPO_ROOT / icon_url.removeprefix(prefix)
    assert path.is_file(), f"Icon {icon_url} names {path}, which does not exist (scripts/make_icon.py writes it)"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width == image.height <= ICON_MAX_PX, f"icon is {image.size}, want square ≤ {ICON_MAX_PX} px"


def test_registry_metadata():
    project = _pyproject()["project"]
    classifiers = project["classifiers"]
    accelerators = [c for c in classifiers if c.startswith("Environment ::")]
    assert "Environment :: GPU :: NVIDIA CUDA" in accelerators
    assert set(accelerators) <= REGISTRY_ACCELERATORS, "comfy-cli drops all accelerators for an unknown one"
    systems = [c.removeprefix("Operating System :: ") for c in classifiers if c.startswith("Operating System :: ")]
    assert systems and all(s.startswith(REGISTRY_OS_PREFIXES) for s in systems)
    assert "CPU" in project["description"], "the registry has no CPU classifier: the description must say it"
    urls = project["urls"]
    for key in ("Repository", "Documentation", "Bug Tracker"):
        assert urls.get(key, "").startswith("https://"), f"[project.urls] {key} is missing"
    assert project["version"]


def _comfy_cli(cwd: Path, *args: str) -> str:
    comfy = Path(sys.executable).with_name("comfy")
    assert comfy.is_file(), "comfy-cli is missing from .venv: run `bash scripts/setup.sh` (requirements-dev.txt)"
    result = subprocess.run([str(comfy), "--skip-prompt", "--no-enable-telemetry", "node", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr  # its console writes the verdict to stderr
    assert result.returncode == 0, f"comfy node {' '.join(args)} failed:\n{output}"
    return output


def test_the_real_comfy_cli_validates_and_packs_what_the_rules_above_say(tmp_path):
    """`comfy node validate` and `comfy node pack` of comfy-cli itself, on a clone of what is committed: the
    checks pass and its zip holds exactly the files pack_files() lists, under the size limit."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    assert "All validation checks passed" in _comfy_cli(clone, "validate")
    _comfy_cli(clone, "pack")
    archive = clone / "node.zip"
    with zipfile.ZipFile(archive) as zipf:
        packed = sorted(zipf.namelist())
    committed = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files"], check=True, capture_output=True,
                               text=True).stdout.splitlines()
    assert packed == [path for path in pack_files() if path in committed]
    assert archive.stat().st_size < MAX_PACK_BYTES
