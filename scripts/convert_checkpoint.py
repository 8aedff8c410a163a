"""Convert an official Text2Cinemagraph generator checkpoint (.pth) to .safetensors next to it.

    python scripts/convert_checkpoint.py checkpoints/motion-pretrained/latest_net_G.pth [--force]

The .pth is read with ``torch.load(weights_only=True)`` (a pickle carrying anything but tensors is
refused, its code never runs), the keys are stripped of a ``module.``/``netG.`` prefix, the network is
detected from them and checked strictly against the architecture before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from models.networks.checkpoints import convert_to_safetensors  # noqa: E402 (needs the path above)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="the .pth file (latest_net_G.pth)")
    parser.add_argument("--output", type=Path, default=None, help="target file (default: same name, .safetensors)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing target")
    args = parser.parse_args(argv)
    try:
        target = convert_to_safetensors(args.checkpoint, args.output, overwrite=args.force)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
