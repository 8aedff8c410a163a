"""The bundled sample painting, reachable by Load Image out of the box.

The "animate a painting" and "painting with twin" workflows load ``sample_painting.png`` (its alpha channel is
the painted mask) with ComfyUI's Load Image, the layers workflow its three regions from ``sample_painting_layers.png``
(one per colour channel) with Load Image (as Mask), which only lists files in ComfyUI's input folder. On start-up the
pack copies the sample files there if no file of that name exists, so the workflows run after a Manager or
registry install with nothing copied by hand. A user's file of the same name is never overwritten (the copy
is created exclusively), and a read-only input folder only costs a log line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import folder_paths

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SAMPLES = ("sample_painting.png", "sample_painting_mask.png", "sample_painting_layers.png")
LOG_PREFIX = "[Text2Cinemagraph]"


def install_samples(input_dir: str | None = None) -> list[str]:
    """Copy the missing sample files into ComfyUI's input folder; returns the names copied."""
    target = Path(input_dir or folder_paths.get_input_directory())
    copied = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in SAMPLES:
            source = ASSETS / name
            if not source.is_file() or (target / name).exists():
                continue
            data = source.read_bytes()
            try:
                handle = open(target / name, "xb")  # exclusive: never replaces a file that appeared meanwhile
            except FileExistsError:
                continue
            try:
                with handle:
                    handle.write(data)
            except OSError:
                (target / name).unlink(missing_ok=True)  # no half-written sample left behind
                raise
            copied.append(name)
    except OSError as error:
        logging.warning("%s could not copy the sample painting into %s (%s); copy %s there by hand to run the "
                        "bundled painting workflows", LOG_PREFIX, target, error, ", ".join(SAMPLES))
        return copied
    if copied:
        logging.info("%s copied %s into ComfyUI's input folder %s for the bundled workflows", LOG_PREFIX,
                     ", ".join(copied), target)
    return copied
