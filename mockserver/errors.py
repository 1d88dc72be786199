"""Errors raised by the mock server's Python API and CLI.

    MockError                   base of everything this package raises
    ├── ConfigError             a bad option, config file or environment variable (also a ValueError)
    │   └── UnknownScenario     a scenario name the provider does not have
    ├── AdminError              a malformed admin-API call (answered as problem+json, never raised to clients)
    │   └── StateFull           a store limit (rules, endpoints) is reached (409)
    └── StoreUnavailable        the state store (Redis) cannot be reached (answered 503 problem+json)

Every message names the offending value, the valid choices and, where one is close, a
"did you mean …?".
"""

from __future__ import annotations

from collections.abc import Iterable

from headshot_mock.specs.errors import did_you_mean


class MockError(Exception):
    """Base class of the errors raised by :mod:`mockserver`."""


class ConfigError(MockError, ValueError):
    """A configuration value is wrong; the message says which and how to fix it."""


class UnknownScenario(ConfigError):
    def __init__(self, scenario: str, valid: Iterable[str], *, where: str) -> None:
        self.scenario = scenario
        self.valid = tuple(sorted(valid))
        super().__init__(f"Unknown scenario {scenario!r} for {where}.{did_you_mean(scenario, self.valid)}")


class AdminError(MockError):
    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        super().__init__(f"{title}: {detail}")


class StateFull(AdminError):
    """A store limit is reached; the message names the limit and the option that raises it."""

    def __init__(self, what: str, limit: int, option: str) -> None:
        super().__init__(
            409,
            f"Too many {what}",
            f"the mock keeps at most {limit} {what} ({option}); clear some or raise {option}.",
        )


class StoreUnavailable(MockError):
    """The state store cannot be reached (Redis down, a timeout): requests answer 503 until it is back."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        super().__init__(f"The state store {where} is unavailable: {reason}")
