"""The spec-driven mock server: ``create_app`` builds a Starlette app serving the providers.

>>> from headshot_mock.mockserver import create_app
>>> app = create_app(level="strict", seed=7)        # an ASGI app; serve it with uvicorn
"""

from headshot_mock.mockserver.app import base_urls, create_app
from headshot_mock.mockserver.config import MockConfig
from headshot_mock.mockserver.control import Control
from headshot_mock.mockserver.errors import AdminError, ConfigError, MockError, UnknownScenario
from headshot_mock.mockserver.server import BackgroundServer
from headshot_mock.mockserver.stores import MemoryStore, Store
from headshot_mock.mockserver.validation import Finding

__all__ = [
    "AdminError",
    "BackgroundServer",
    "ConfigError",
    "Control",
    "Finding",
    "MemoryStore",
    "MockConfig",
    "MockError",
    "Store",
    "UnknownScenario",
    "base_urls",
    "create_app",
]
