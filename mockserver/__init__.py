"""The spec-driven mock server: ``create_app`` builds a Starlette app serving the providers.

>>> from headshot_mock.mockserver import create_app
>>> app = create_app(level="strict", seed=7)        # a MockApp (Starlette); serve it with uvicorn
>>> app.control                                      # journal, rules, jobs, clock, webhooks
<headshot_mock.mockserver.control.Control object at ...>

The layer above (``headshot_mock.contracts``) uses only these names.
"""

from headshot_mock.mockserver.app import MockApp, base_urls, create_app, scenario_books, scenario_names
from headshot_mock.mockserver.config import LEVELS, Level, MockConfig
from headshot_mock.mockserver.control import Control
from headshot_mock.mockserver.errors import AdminError, ConfigError, MockError, UnknownScenario
from headshot_mock.mockserver.images import Recipe
from headshot_mock.mockserver.images import render as render_image
from headshot_mock.mockserver.providers import Provider, plugin_for
from headshot_mock.mockserver.scenarios import ScenarioBook
from headshot_mock.mockserver.server import BackgroundServer
from headshot_mock.mockserver.signing import InvalidSignature, verify_magichour
from headshot_mock.mockserver.store import MemoryStore, Store
from headshot_mock.mockserver.validation import Finding

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
    "ScenarioBook",
    "Store",
    "UnknownScenario",
    "base_urls",
    "create_app",
    "plugin_for",
    "render_image",
    "scenario_books",
    "scenario_names",
    "verify_magichour",
]
