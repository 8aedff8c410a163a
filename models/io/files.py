"""Where a saved file goes: the checks on a file-name prefix, and moving a finished file into place.

A saver encodes into a temporary name in the target folder and only then gives the file its name, so a failed or
cancelled encode never leaves a half-written file under a real name. That name is taken without ever replacing a
file: another writer (a second ComfyUI sharing the output folder, anything else) may have created it meanwhile, and
its file must survive; the next counter is taken instead (:func:`move_into_place`).

The prefix (``cinemagraph/loop``) may name folders below the output folder, never above it, never hidden names,
and never through a symbolic link that leads out of it (:func:`check_prefix`). Everything is checked before any
frame is encoded, so a bad prefix costs no encode.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from ..checks import InputValueError

MAX_FOLDERS = 32
"""Folder levels a prefix may name (deeper nests hit the recursion and path limits of the OS and of Python)."""
NAME_BYTES = 255
"""Longest file or folder name in bytes on the usual file systems (ext4, APFS, NTFS in UTF-16 units)."""
COUNTER_ROOM = len("_00001_.webp")
"""What a saved file adds to the prefix's last part: the counter and the extension."""


def check_prefix(prefix: str, root: str | os.PathLike, name: str = "filename_prefix") -> str:
    """The prefix with ``/`` separators, or :class:`InputValueError` naming ``name``, what is wrong and the fix.

    A prefix ending in ``/`` names a folder: the files in it are called ``loop``. Refused: a NUL character, a ``.``
    or ``..`` part or a part starting with ``.`` (a hidden file or folder, or one outside ``root``), a part too long
    for the file system, more than :data:`MAX_FOLDERS` folders, a part that exists as a file, and a folder that
    resolves outside ``root`` through a symbolic link."""
    if "\x00" in prefix:
        raise InputValueError(f"`{name}` contains a NUL character (\\x00), which no file name can hold: remove it")
    parts = prefix.replace("\\", "/").split("/")
    if len(parts) > 1 and parts[0] == "":
        raise InputValueError(f"`{name}` {prefix!r} starts with '/': folders are named from the output folder "
                              "down; remove the leading '/'")
    if parts[-1] == "":
        parts[-1] = "loop"
    parts = [part for part in parts[:-1] if part] + parts[-1:]
    for index, part in enumerate(parts):
        if part.startswith("."):
            raise InputValueError(f"`{name}` {prefix!r} has the part {part!r}: a name starting with '.' is hidden "
                                  "('.' and '..' would leave the folder); use a plain name such as "
                                  "'cinemagraph/loop'")
        if len(part.encode("utf-8", "surrogatepass")) + (COUNTER_ROOM if index == len(parts) - 1 else 0) > NAME_BYTES:
            raise InputValueError(f"`{name}` has a part of {len(part)} characters, longer than a file name may be "
                                  f"({NAME_BYTES} bytes with the counter and extension): shorten it")
    if len(parts) - 1 > MAX_FOLDERS:
        raise InputValueError(f"`{name}` names {len(parts) - 1} nested folders; at most {MAX_FOLDERS} are allowed: "
                              "use fewer '/'")
    _check_folders(Path(root), parts[:-1], prefix, name)
    return "/".join(parts)


def _check_folders(root: Path, folders: list[str], prefix: str, name: str) -> None:
    """Each folder of the prefix that exists is a folder, and inside ``root`` once links are resolved."""
    real_root, current = root.resolve(), root
    for folder in folders:
        current = current / folder
        if not os.path.lexists(current):
            return
        if not current.is_dir():
            raise InputValueError(f"`{name}` {prefix!r}: {folder!r} exists in the output folder as a file, not a "
                                  "folder: choose another folder name")
        if not current.resolve().is_relative_to(real_root):
            raise InputValueError(f"`{name}` {prefix!r}: the folder {folder!r} is a link leading outside the output "
                                  "folder, where Save does not write: choose another folder")


def move_into_place(temp: str | os.PathLike, folder: str | os.PathLike, prefix: str, ext: str,
                    start: int = 1, companions: Mapping[str, str] | None = None) -> Path:
    """Give the finished file ``temp`` the first free name ``{prefix}_{counter:05}_{ext}`` in ``folder`` from
    counter ``start`` on, never replacing a file, and return its path; ``temp`` is gone afterwards either way.
    ``companions`` (temporary file → its ext) belong to the same save (a live photo's still): they take the same
    counter, one that is free for every file, or none of them is placed.

    A hard link fails when the name exists, so a name another writer took meanwhile is skipped; where the file
    system has no hard links the name is claimed by an exclusive create and the file moved onto that claim."""
    files = {str(temp): ext, **(companions or {})}
    counter = start
    try:
        while True:
            claimed = []
            try:
                for source, suffix in files.items():
                    final = Path(folder) / f"{prefix}_{counter:05}_{suffix}"
                    _claim(source, final)
                    claimed.append((source, final))
                return Path(folder) / f"{prefix}_{counter:05}_{ext}"
            except FileExistsError:
                for source, final in claimed:  # give back the names taken at this counter
                    if os.path.exists(source):
                        os.remove(final)
                    else:
                        os.replace(final, source)
                counter += 1
    finally:
        for source in files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(source)


def _claim(temp: str | os.PathLike, final: Path) -> None:
    try:
        os.link(temp, final)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network shares)
        os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(temp, final)
