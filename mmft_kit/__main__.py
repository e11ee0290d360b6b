"""Command line: ``python -m mmft_kit COMMAND ...`` (also installed as ``mmft-kit``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .cli import COMMANDS
from .cli.flags import command_parser, in_flags
from .errors import MMFTKitError


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand of :data:`mmft_kit.cli.COMMANDS`."""
    parser = argparse.ArgumentParser(prog="python -m mmft_kit", description="mmft_kit: multimodal fine-tuning kit")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the kit's own errors print as one clear message, in the subcommand's flags
    (:func:`mmft_kit.cli.flags.in_flags`), and exit with status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except MMFTKitError as exc:
        print(f"error: {in_flags(exc, command_parser(parser, args))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is saved; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
