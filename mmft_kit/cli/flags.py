"""The kit's errors in the words of the command line: the Python names of parameters become the command's flags.

The kit's messages speak to Python callers (``pass make_captions=True``, ``pass root=ROOT``, a
:class:`~mmft_kit.errors.BadParametersError`'s ``lr = '-1': ...`` lines and its "fix them where the
config is made"). :func:`in_flags` rewrites one message for the subcommand that raised it: a name that
is one of its options becomes that option (``--make-captions``, ``--root ROOT``, ``--lr``), and a
parameter error's last sentence points at the command line. Names that are no option stay as they are,
and the Python API keeps its own words (nothing here runs outside the command line).
"""

from __future__ import annotations

import argparse
import re
from ..errors import BadParametersError

#: Where a parameter error tells a command-line user to fix it.
COMMAND_LINE_FIX = "Fix them on the command line (`{prog} --help` lists every option)."
#: ``NAME=VALUE`` as a Python message writes a keyword argument (``VALUE`` may be empty: ``pass root=``).
_KEYWORD = re.compile(r"(?<![\w-])([a-z_][a-z0-9_]*)=(\S*?)(?=[\s,;)]|$)")
#: ``  NAME[0] = VALUE:`` as :func:`mmft_kit.params.base.describe_errors` lists a bad field.
_FIELD_LINE = re.compile(r"^(\s+)([a-z_][a-z0-9_]*)((?:\[\w+\])*) = ", re.M)


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser that parsed ``args``: ``parser``'s chosen subcommand, down to the last one."""
    while True:
        chosen = [action.choices[getattr(args, action.dest)] for action in parser._actions
                  if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None)]
        if not chosen:
            return parser
        parser = chosen[0]


def option_names(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Each option's destination (the Python name) → its action."""
    return {action.dest: action for action in parser._actions if action.option_strings and action.dest != "help"}


def _flag(action: argparse.Action, value: str) -> str:
    """How ``NAME=value`` is said with ``action``'s option."""
    long = max(action.option_strings, key=len)
    if isinstance(action, argparse.BooleanOptionalAction):
        return action.option_strings[-1] if value == "False" else action.option_strings[0]
    if action.nargs == 0 or value in ("", "True"):  # a switch, or "pass root=" (the value follows in words)
        return long
    return f"{long} {value}"


def in_flags(error: Exception, parser: argparse.ArgumentParser) -> str:
    """``error``'s message with the Python names of ``parser``'s options said as its flags."""
    options = option_names(parser)
    message = str(error)
    if isinstance(error, BadParametersError) and error.fix:
        message = message.replace(error.fix, COMMAND_LINE_FIX.format(prog=parser.prog))

    def keyword(match: re.Match) -> str:
        action = options.get(match.group(1))
        return _flag(action, match.group(2)) if action is not None else match.group(0)

    def field_line(match: re.Match) -> str:
        action = options.get(match.group(2))
        if action is None:
            return match.group(0)
        return f"{match.group(1)}{max(action.option_strings, key=len)}{match.group(3)} "

    return _FIELD_LINE.sub(field_line, _KEYWORD.sub(keyword, message))

