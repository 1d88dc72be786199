"""headshot-mock: offline doubles of AI-headshot provider APIs, driven by bundled OpenAPI specs.

One front door for users::

    from headshot_mock import ClientSuite, MockSession, create_app

The repository keeps three folders, installed as subpackages of this one:

- :mod:`headshot_mock.specs` — the bundled OpenAPI documents and their loader;
- :mod:`headshot_mock.mockserver` — the Starlette mock server built from them;
- :mod:`headshot_mock.contracts` — checks of clients and servers: pytest plugin, client suite,
  respx interceptor, schemathesis ``verify``, and the CLI.

Names are imported on first use, so ``import headshot_mock`` (which the pytest plugin and the
CLI do) costs nothing until a name is touched.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headshot_mock.contracts import (
        ClientSuite,
        ContractError,
        ContractViolation,
        Intercept,
        MockSession,
        UnmockedRequest,
        VerifyError,
        WebhookReceiver,
        check_request,
        check_response,
        images,
        intercept,
        raises,
        verify,
    )
    from headshot_mock.mockserver import (
        AdminError,
        BackgroundServer,
        ConfigError,
        Control,
        Finding,
        MemoryStore,
        MockApp,
        MockConfig,
        MockError,
        Store,
        UnknownScenario,
        base_urls,
        create_app,
    )
    from headshot_mock.specs import ProviderSpec, SpecError, load, providers

__all__ = [
    "AdminError",
    "BackgroundServer",
    "ClientSuite",
    "ConfigError",
    "ContractError",
    "ContractViolation",
    "Control",
    "Finding",
    "Intercept",
    "MemoryStore",
    "MockApp",
    "MockConfig",
    "MockError",
    "MockSession",
    "ProviderSpec",
    "SpecError",
    "Store",
    "UnknownScenario",
    "UnmockedRequest",
    "VerifyError",
    "WebhookReceiver",
    "__version__",
    "base_urls",
    "check_request",
    "check_response",
    "create_app",
    "images",
    "intercept",
    "load",
    "providers",
    "raises",
    "verify",
]

_PACKAGES = ("headshot_mock.contracts", "headshot_mock.mockserver", "headshot_mock.specs")


def _home(name: str) -> str | None:
    for package in _PACKAGES:
        if name in importlib.import_module(package).__all__:
            return package
    return None


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read on first use: importlib.metadata costs ~30 ms of a start
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("headshot-mock")
        except PackageNotFoundError:  # pragma: no cover - a tree that was never installed
            return "0+unknown"
    home = _home(name) if name in __all__ else None
    if home is None:
        raise AttributeError(f"module 'headshot_mock' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    if isinstance(value, ModuleType):  # `verify`, `intercept`: the submodule of that name was imported
        value = getattr(value, name)
    return value


def __dir__() -> list[str]:
    return __all__
