"""Checks of clients and servers against the bundled specs.

- :class:`MockSession` — a mock for one test (in-process or on a port), with journal assertions;
  the pytest plugin (``headshot_mock`` fixtures) hands these out.
- :class:`ClientSuite`, :func:`images`, :func:`raises`, :func:`returns` — run your client through
  every scenario.
- :func:`intercept` — a respx router serving the providers' real hosts from the mock.
- :func:`verify` — schemathesis conformance of any server against a bundled spec (imported on
  first use: it loads schemathesis).
- :class:`WebhookReceiver`, :class:`ContractViolation`, :func:`check_request`, :func:`check_response`.
"""

import importlib
from typing import Any

# Names are imported on first use: the CLI (`headshot-mock serve`) and the pytest plugin load
# this package, and neither should pay for respx, schemathesis or openapi-core up front.
_HOMES = {
    "ClientSuite": "headshot_mock.contracts.suite",
    "ContractViolation": "headshot_mock.contracts.violations",
    "Intercept": "headshot_mock.contracts.intercept",
    "MockSession": "headshot_mock.contracts.session",
    "WebhookReceiver": "headshot_mock.contracts.receiver",
    "check_request": "headshot_mock.contracts.exchange",
    "check_response": "headshot_mock.contracts.exchange",
    "images": "headshot_mock.contracts.suite",
    "intercept": "headshot_mock.contracts.intercept",
    "raises": "headshot_mock.contracts.suite",
    "returns": "headshot_mock.contracts.suite",
    "verify": "headshot_mock.contracts.verify",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'contracts' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return __all__
