"""The spec-driven mock server: ``create_app`` builds a Starlette app serving the providers.

>>> from headshot_mock.mockserver import create_app
>>> app = create_app(level="strict", seed=7)        # a MockApp (Starlette); serve it with uvicorn
>>> app.control                                      # journal, rules, jobs, clock, webhooks
<headshot_mock.mockserver.control.Control object at ...>

The layer above (``headshot_mock.contracts``) uses only these names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headshot_mock.mockserver.app import MockApp, base_urls, create_app, scenario_books, scenario_names
    from headshot_mock.mockserver.config import LEVELS, Level, MockConfig
    from headshot_mock.mockserver.control import Control
    from headshot_mock.mockserver.errors import (
        AdminError,
        ConfigError,
        MockError,
        StoreUnavailable,
        UnknownScenario,
    )
    from headshot_mock.mockserver.images import Recipe
    from headshot_mock.mockserver.images import render as render_image
    from headshot_mock.mockserver.journal import redact_url
    from headshot_mock.mockserver.providers import Provider, plugin_for
    from headshot_mock.mockserver.scenarios import ScenarioBook
    from headshot_mock.mockserver.server import BackgroundServer, serve
    from headshot_mock.mockserver.signing import InvalidSignature, verify_magichour
    from headshot_mock.mockserver.stores import MemoryStore, RedisStore, Store
    from headshot_mock.mockserver.validation import Finding

# Names are imported on first use: the CLI and the pytest plugin load this package, and a
# `headshot-mock --help` or a test run that never starts a mock should not pay for Starlette.
_HOMES = {
    "AdminError": ("headshot_mock.mockserver.errors", "AdminError"),
    "BackgroundServer": ("headshot_mock.mockserver.server", "BackgroundServer"),
    "ConfigError": ("headshot_mock.mockserver.errors", "ConfigError"),
    "Control": ("headshot_mock.mockserver.control", "Control"),
    "Finding": ("headshot_mock.mockserver.validation", "Finding"),
    "InvalidSignature": ("headshot_mock.mockserver.signing", "InvalidSignature"),
    "LEVELS": ("headshot_mock.mockserver.config", "LEVELS"),
    "Level": ("headshot_mock.mockserver.config", "Level"),
    "MemoryStore": ("headshot_mock.mockserver.stores", "MemoryStore"),
    "RedisStore": ("headshot_mock.mockserver.stores", "RedisStore"),
    "StoreUnavailable": ("headshot_mock.mockserver.errors", "StoreUnavailable"),
    "MockApp": ("headshot_mock.mockserver.app", "MockApp"),
    "MockConfig": ("headshot_mock.mockserver.config", "MockConfig"),
    "MockError": ("headshot_mock.mockserver.errors", "MockError"),
    "Provider": ("headshot_mock.mockserver.providers", "Provider"),
    "Recipe": ("headshot_mock.mockserver.images", "Recipe"),
    "ScenarioBook": ("headshot_mock.mockserver.scenarios", "ScenarioBook"),
    "Store": ("headshot_mock.mockserver.stores", "Store"),
    "UnknownScenario": ("headshot_mock.mockserver.errors", "UnknownScenario"),
    "base_urls": ("headshot_mock.mockserver.app", "base_urls"),
    "create_app": ("headshot_mock.mockserver.app", "create_app"),
    "plugin_for": ("headshot_mock.mockserver.providers", "plugin_for"),
    "redact_url": ("headshot_mock.mockserver.journal", "redact_url"),
    "render_image": ("headshot_mock.mockserver.images", "render"),
    "scenario_books": ("headshot_mock.mockserver.app", "scenario_books"),
    "serve": ("headshot_mock.mockserver.server", "serve"),
    "scenario_names": ("headshot_mock.mockserver.app", "scenario_names"),
    "verify_magichour": ("headshot_mock.mockserver.signing", "verify_magichour"),
}
__all__ = [
    "LEVELS",
    "AdminError",
    "BackgroundServer",
    "ConfigError",
    "Control",
    "Finding",
    "InvalidSignature",
    "Level",
    "MemoryStore",
    "MockApp",
    "MockConfig",
    "MockError",
    "Provider",
    "Recipe",
    "RedisStore",
    "ScenarioBook",
    "Store",
    "StoreUnavailable",
    "UnknownScenario",
    "base_urls",
    "create_app",
    "plugin_for",
    "redact_url",
    "render_image",
    "scenario_books",
    "scenario_names",
    "serve",
    "verify_magichour",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'headshot_mock.mockserver' has no attribute {name!r}")
    return getattr(importlib.import_module(home[0]), home[1])


def __dir__() -> list[str]:
    return __all__
