"""Checks of clients and servers against the bundled specs.

- :class:`MockSession` — a mock for one test (in-process or on a port), with journal assertions;
  the pytest plugin (``headshot_mock`` fixtures) hands these out.
- :class:`ClientSuite`, :func:`images`, :func:`raises` — run your client through every scenario.
- :func:`intercept` — a respx router serving the providers' real hosts from the mock.
- :func:`verify` — schemathesis conformance of any server against a bundled spec (imported on
  first use: it loads schemathesis).
- :class:`WebhookReceiver`, :class:`ContractViolation`, :func:`check_request`, :func:`check_response`.
"""

from typing import Any

from contracts.exchange import check_request, check_response
from contracts.intercept import Intercept, intercept
from contracts.receiver import WebhookReceiver
from contracts.session import MockSession
from contracts.suite import ClientSuite, images, raises
from contracts.violations import ContractViolation

__all__ = [
    "ClientSuite",
    "ContractViolation",
    "Intercept",
    "MockSession",
    "WebhookReceiver",
    "check_request",
    "check_response",
    "images",
    "intercept",
    "raises",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name == "verify":
        from contracts.verify import verify

        return verify
    raise AttributeError(f"module 'contracts' has no attribute {name!r}")
