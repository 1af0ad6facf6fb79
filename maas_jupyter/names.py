"""Rules for the names users give to models, aliases and endpoints."""

import re

from .errors import InvalidInput

MAX_NAME_LENGTH = 64
# Letters, digits, '-', '_', '.'; not starting with '.' so names never look like
# hidden files or path segments ('.', '..') when they reach URLs or folders.
_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


def check_name(value: object, what: str = "name") -> str:
    """Return `value` if it is a valid name, else raise InvalidInput saying why."""
    if not isinstance(value, str) or value == "":
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"{what} {value[:20]!r}… is {len(value)} characters long; at most {MAX_NAME_LENGTH} are allowed"
        )
    if not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{what} {value!r} is not allowed: use letters, digits, '-', '_' and '.', not starting with '.'"
        )
    return value


# ASCII digits only: str.isdigit() and int() also take '²' and Arabic-Indic digits ('٣' is 3 to int()).
# At most 9 digits: every number here (versions, job ids, offsets) fits a 32-bit database integer.
_NUMBER = re.compile(r"[0-9]{1,9}")


def parse_number(value: object) -> int | None:
    """The non-negative integer an ASCII-digit string (or an int) stands for; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 10**9 else None
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return int(value)
    return None


def check_alias(value: object) -> str:
    """An alias follows the name rules and must not be a number (numbers mean versions)."""
    alias = check_name(value, "alias")
    if alias.isdigit():
        raise InvalidInput(f"alias {alias!r} is a number; numbers refer to versions")
    if alias == "latest":
        raise InvalidInput("alias 'latest' is reserved: it always means the newest version")
    return alias
