"""Print the requirements the running Python does not satisfy, one per line.

    unmet_requirements.py FILE           the lines of a requirements file
    unmet_requirements.py --deps-of DIR  what the distributions installed in DIR (a `pip --target` folder) need

setup.sh uses it for the current-ComfyUI leg: only what that ComfyUI needs beyond the shared venv goes into its
own folder (installed with --no-deps, then their own needs, until nothing is missing), so both ComfyUI versions
run on one torch install and the oldest leg's venv is left exactly as a user of that version has it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement

SKIP = {"torch", "torchvision", "torchaudio"}  # the torch build is pinned by setup.sh, never replaced


def _parse(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement:
        raise SystemExit(f"unmet_requirements: cannot read requirement {text!r}") from None


def unmet(requirements: Iterable[str], extra: str = "") -> list[str]:
    """Requirements (lines or Requires-Dist entries; `extra` selects a distribution's optional ones) not met."""
    missing = []
    for line in requirements:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = _parse(text)
        if requirement.name.lower() in SKIP:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        wanted = f"{requirement.name}{requirement.specifier}"
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(wanted)
            continue
        if requirement.specifier and not requirement.specifier.contains(dist.version, prereleases=True):
            missing.append(wanted)
        for name in requirement.extras:  # e.g. pyjwt[crypto] needs cryptography
            missing += unmet(dist.requires or [], extra=name)
    return missing


def requirements_of(folder: str) -> list[str]:
    return [req for dist in metadata.distributions(path=[folder]) for req in (dist.requires or [])]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--deps-of"]:
        found = unmet(requirements_of(sys.argv[2]))
    else:
        with open(sys.argv[1], encoding="utf-8") as handle:
            found = unmet(handle.read().splitlines())
    print("\n".join(dict.fromkeys(found)))
