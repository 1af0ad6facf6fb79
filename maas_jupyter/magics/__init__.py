"""The %maas line magic and %%maas cell magic."""

from __future__ import annotations

import difflib
import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..errors import MaasError

# Importing a commands module registers its commands.
from . import keys_commands, monitoring_commands, registry_commands, serving_commands, training_commands  # noqa: F401,E402
from .commands import COMMANDS, HelpShown
from .context import MagicContext


@magics_class
class MaasMagics(Magics):
    """%maas COMMAND ARGS…; `%maas help` lists the commands."""

    def __init__(self, shell):
        super().__init__(shell)
        self.context = MagicContext(shell)

    @line_cell_magic
    def maas(self, line: str, cell: str | None = None):
        """Model-as-a-Service from the notebook: `%maas help` lists the commands."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot read the arguments: {exc}") from None
        if not words:
            words = ["help"]
        name, argv = words[0], words[1:]
        command = COMMANDS.get(name)
        if command is None:
            close = difflib.get_close_matches(name, COMMANDS, n=1)
            hint = f"did you mean `%maas {close[0]}`? " if close else ""
            raise UsageError(f"unknown command {name!r}; {hint}`%maas help` lists the commands")
        if cell is not None and not command.cell:
            raise UsageError(f"%maas {name} is a line magic; use one % sign")
        if cell is None and command.cell:
            raise UsageError(f"%%maas {name} is a cell magic: its body is the training script")
        try:
            args = command.parser.parse_args(argv)
            return command.run(self.context, args, cell) if command.cell else command.run(self.context, args)
        except HelpShown:
            return None
        except MaasError as exc:
            # One line in the notebook, not a traceback: the reason is the message.
            raise UsageError(exc.message) from None


def register_magics(ipython) -> None:
    """Register the magics with an IPython shell."""
    ipython.register_magics(MaasMagics)
