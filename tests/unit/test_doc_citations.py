"""Every document a comment, docstring or page cites ships with the repository, down to the section.

Citations look like ``docs/networks.md#legacy-spectral-norm``: a path from the repository root, optionally with a
section anchor as GitHub makes it from the heading (lower case, punctuation dropped, spaces to hyphens). The notes
the code was first written from (the upper-case ``*.md`` reference notes, cited with ``§``) do not ship, so citing
them fails too.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

from conftest import REPO_ROOT

CITATION = re.compile(r"(?<![\w/.-])((?:docs|tests|models|nodes|sampling|scripts|web|workflows)/[\w./-]*\.md)"
                      r"(?:#([\w-]+))?")
UNSHIPPED = re.compile(r"\b(?:NETWORKS|PIPELINE|PEERS|COMFYUI|COMFYUI_RUNTIME)\.md\b|§\s*\d")
SUFFIXES = {".py", ".js", ".md"}


def _tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [REPO_ROOT / name for name in listed if name and Path(name).suffix in SUFFIXES
            and (REPO_ROOT / name).is_file()]


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    found, in_code = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)):
            found.add(slug(match.group(1)))
    return frozenset(found)


def _citations() -> list[tuple[str, int, str, str | None]]:
    this = Path(__file__).resolve()
    found = []
    for path in _tracked_files():
        if path.resolve() == this:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(REPO_ROOT)}:{number}"
            found += [(where, 0, match.group(1), match.group(2)) for match in CITATION.finditer(line)]
            found += [(where, 1, match.group(0), None) for match in UNSHIPPED.finditer(line)]
    return found


def test_slug_follows_github():
    assert slug("2. Twin sampler") == "2-twin-sampler"
    assert slug("Network A: text flow") == "network-a-text-flow"
    assert slug("The `T2C_FLOW` type") == "the-t2c_flow-type"


def test_docs_are_cited_and_every_citation_resolves():
    citations = _citations()
    assert any(kind == 0 and target.startswith("docs/") for _, kind, target, _ in citations), "no citation found"
    problems = []
    for where, kind, target, anchor in citations:
        if kind == 1:
            problems.append(f"{where}: cites {target!r}, a note that does not ship; cite docs/… instead")
            continue
        path = REPO_ROOT / target
        if not path.is_file():
            problems.append(f"{where}: {target} does not exist")
        elif anchor is not None and anchor not in anchors(path):
            problems.append(f"{where}: {target} has no section #{anchor}")
    assert not problems, "\n".join(problems)
