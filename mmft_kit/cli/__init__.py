"""Subcommands of ``python -m mmft_kit``.

Each subcommand is a module here with ``register(subparsers)``, which adds its parser and sets
``run=`` (a function of the parsed arguments returning an exit status). To add one, write
``cli/NAME.py`` and add ``NAME`` to :data:`COMMANDS`.
"""

#: The subcommand modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = ("caption", "batch", "train", "predict", "prompts")
