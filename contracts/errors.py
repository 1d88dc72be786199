"""The errors of :mod:`headshot_mock.contracts`, under one root (as HTTPX draws its tree)::

    ContractError                   everything this package raises on purpose
    ├── ContractViolation           a client broke the documented contract, or its declared
    │                               outcome (also an AssertionError: pytest shows it as one)
    │   └── UnmockedRequest         intercept: a request no route serves (also respx's
    │                               AllMockedAssertionError, so an outer respx router gets its turn)
    └── VerifyError                 misuse of ``verify``: an unknown provider, a bad URL, a remote
                                    target without ``allow_remote`` (also a ValueError)

Errors of the mock itself (a bad config, an unknown scenario) come from
:mod:`headshot_mock.mockserver`, rooted at ``MockError``; unknown providers and operations from
:mod:`headshot_mock.specs` (``SpecError``).
"""

from __future__ import annotations

__all__ = ["ContractError", "ContractViolation", "VerifyError"]


class ContractError(Exception):
    """The root of every error ``headshot_mock.contracts`` raises on purpose."""


class ContractViolation(ContractError, AssertionError):
    """Raised when requests broke the documented contract (or a client's declared outcome)."""


class VerifyError(ContractError, ValueError):
    """Misuse: an unknown provider, a bad URL, a remote target without ``allow_remote``."""
