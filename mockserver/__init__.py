"""The spec-driven mock server: ``create_app`` builds a Starlette app serving the providers.

>>> from mockserver import create_app
>>> app = create_app(level="strict", seed=7)        # an ASGI app; serve it with uvicorn
"""

from mockserver.app import base_urls, create_app
from mockserver.config import MockConfig
from mockserver.control import Control
from mockserver.errors import AdminError, ConfigError, MockError, UnknownScenario
from mockserver.server import BackgroundServer
from mockserver.store import MemoryStore, Store
from mockserver.validation import Finding

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
