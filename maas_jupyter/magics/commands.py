"""The table of %maas commands and their argument parsers.

Each commands module registers its commands with @command; the magic dispatches on the first word.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

from ..errors import InvalidInput


class HelpShown(Exception):
    """--help was asked for: the help has been printed and the command does not run."""


class CommandParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting the kernel."""

    def __init__(self, prog: str, description: str, **kwargs):
        super().__init__(prog=f"%maas {prog}", description=description, add_help=True,
                         formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)

    def error(self, message: str):
        raise InvalidInput(f"{message}\nusage: {self.format_usage().removeprefix('usage: ').strip()}")

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            print(message)
        raise HelpShown()


@dataclass
class Command:
    name: str
    summary: str
    parser: CommandParser
    run: Callable  # run(ctx, args, cell) -> value to display
    cell: bool = False  # a cell magic (%%maas NAME) whose body is an argument


COMMANDS: dict[str, Command] = {}


def command(name: str, summary: str, cell: bool = False):
    """Declare a %maas command: the decorated function receives (ctx, parser) and returns its runner."""

    def decorate(build: Callable[[CommandParser], Callable]):
        parser = CommandParser(name, summary)
        COMMANDS[name] = Command(name, summary, parser, build(parser), cell)
        return build

    return decorate
