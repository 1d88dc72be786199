"""Errors raised by the spec loader.

SpecError                 base of everything this package raises
├── UnknownProvider       a provider id that is not bundled (also a LookupError)
├── UnknownOperation      an operationId the provider's spec does not have (also a LookupError)
└── InvalidSpec           a bundled document that breaks specs/CONVENTIONS.md
    └── SpecFileError     a user's OpenAPI file that is not valid (file, JSON pointer, problem)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SpecError(Exception):
    """Base class of the errors raised by :mod:`specs`."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A message tail listing the valid choices, with the closest one first when there is one."""
    choices = sorted(choices)
    close = difflib.get_close_matches(value, choices, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{hint} Valid values: {', '.join(choices)}."


class UnknownProvider(SpecError, LookupError):
    def __init__(self, provider: str, known: Iterable[str], loaded: Iterable[str] = ()) -> None:
        self.provider = provider
        known, loaded = sorted(known), sorted(loaded)
        message = f"Unknown provider {provider!r}.{did_you_mean(provider, known)}"
        if loaded:  # specs loaded from the user's files (specs.load_file)
            close = difflib.get_close_matches(provider, loaded, n=1)
            if close and not difflib.get_close_matches(provider, known, n=1):
                message = message.replace(" Valid values:", f" Did you mean {close[0]!r}? Valid values:", 1)
            message += f" Loaded from your files: {', '.join(loaded)}."
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownOperation(SpecError, LookupError):
    def __init__(self, provider: str, operation: str, known: Iterable[str]) -> None:
        self.provider = provider
        self.operation = operation
        super().__init__(
            f"Provider {provider!r} has no operation {operation!r}.{did_you_mean(operation, known)}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidSpec(SpecError):
    """A bundled document does not follow specs/CONVENTIONS.md."""


class SpecFileError(InvalidSpec):
    """A user's OpenAPI file that cannot be served: which file, where in it, what is wrong."""

    def __init__(self, file: object, pointer: str, problem: str) -> None:
        self.file = str(file)
        self.pointer = pointer
        self.problem = problem
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"{self.file}{where}: {problem}")

    def __str__(self) -> str:
        return str(self.args[0])
