"""The table of %maas commands and their argument parsers.

`%maas NAME` is the module-level function `maas_NAME(ctx, args)` of a commands module (a cell magic's
also takes the cell), declared with @command right above it: its name, its one-line summary and its
arguments. The magic dispatches on the first word through COMMANDS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import InvalidInput


class HelpShown(Exception):
    """--help was asked for: the help has been printed and the command does not run."""


class CommandParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting the kernel."""

    def __init__(self, prog: str, description: str, **kwargs):
        super().__init__(
            prog=f"%maas {prog}",
            description=description,
            add_help=True,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kwargs,
        )

    def error(self, message: str):
        raise InvalidInput(f"{message}\nusage: {self.format_usage().removeprefix('usage: ').strip()}")

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            print(message)
        raise HelpShown()


# Adds arguments to a command's parser: arg(...) below, or a function shared by several commands.
ArgumentSpec = Callable[[argparse.ArgumentParser], object]
Runner = TypeVar("Runner", bound=Callable[..., Any])


def arg(*flags: str, **options: Any) -> ArgumentSpec:
    """One argument of a command, as `parser.add_argument(*flags, **options)` declares it."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*flags, **options)

    return add


@dataclass
class Command:
    name: str
    summary: str
    parser: CommandParser
    run: Callable[..., Any]  # run(ctx, args) -> value to display; a cell magic's run(ctx, args, cell)
    cell: bool = False  # a cell magic (%%maas NAME) whose body is an argument


COMMANDS: dict[str, Command] = {}


def command(name: str, summary: str, *arguments: ArgumentSpec, cell: bool = False) -> Callable[[Runner], Runner]:
    """Declare `%maas NAME`: the decorated function `maas_NAME` runs it, with a parser made of `arguments`
    in the order given (the order of its help). The function itself is returned unchanged."""

    def declare(run: Runner) -> Runner:
        if run.__name__ != f"maas_{name}":  # one spelling, so `%maas NAME` is found by searching for maas_NAME
            raise TypeError(f"the function of %maas {name} is named maas_{name}, not {run.__name__}")
        parser = CommandParser(name, summary)
        for add in arguments:
            add(parser)
        COMMANDS[name] = Command(name, summary, parser, run, cell)
        return run

    return declare
