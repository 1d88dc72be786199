from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from headshot_mock import specs
from headshot_mock.mockserver import BackgroundServer, MockConfig, create_app

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROVIDERS = specs.providers()


@pytest.fixture(params=PROVIDERS)
def provider_spec(request: pytest.FixtureRequest) -> specs.ProviderSpec:
    return specs.load(request.param)


@pytest.fixture
def app() -> Any:
    """A fresh mock of every provider (default config: lenient, seed 0, instant)."""
    return create_app(config=MockConfig())


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to ``app`` in-process (no port)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as c:
        yield c


@pytest.fixture(scope="session")
def live_server() -> Iterator[BackgroundServer]:
    """One uvicorn server on a free loopback port for the whole session (reset per test)."""
    with BackgroundServer(create_app(config=MockConfig())) as server:
        yield server


@pytest.fixture
def live(live_server: BackgroundServer) -> BackgroundServer:
    httpx.post(f"{live_server.url}/__mock/reset").raise_for_status()
    return live_server


@pytest.fixture(scope="session")
def redis_session() -> Iterator[Any]:
    """One real redis-server for the session (skips, saying how to install it, when missing)."""
    from tests.redis_server import redis_server

    with redis_server() as server:
        yield server
