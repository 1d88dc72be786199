"""The pytest plugin (registered as ``headshot_mock`` under ``pytest11``): fixtures that hand
out :class:`~contracts.session.MockSession` objects, and the check that makes a contract
violation fail the test that caused it.

- ``headshot_mock``: an in-process mock (no port): ``headshot_mock.client("modelslab")``.
- ``headshot_mock_server``: the same on uvicorn, on a free loopback port, for clients built on
  ``requests``, aiohttp or another language: ``headshot_mock_server.base_url("agentai")``.
- ``headshot_webhooks``: a webhook receiver registered with ``headshot_mock`` (Magic Hour), which
  records deliveries and verifies their signatures.
- ``@pytest.mark.headshot_mock(level="lenient", seed=7, strict=False, ...)``: configure the mock;
  ``strict=False`` keeps contract violations from failing the test.
- ``@pytest.mark.headshot_scenario("rate_limited", provider=None, operation=None)``: every call
  answers that scenario.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from contracts.receiver import WebhookReceiver
from contracts.session import MockSession

_SESSIONS = pytest.StashKey[list[tuple[MockSession, bool]]]()
WEBHOOK_SECRET = "whsec_headshot_mock_tests"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "headshot_mock(**options): configure the headshot mock (level, scenario, seed, time_scale, ...); "
        "strict=False keeps contract violations from failing the test",
    )
    config.addinivalue_line(
        "markers",
        "headshot_scenario(name, provider=None, operation=None): every mock call answers this scenario",
    )


def _session(request: pytest.FixtureRequest, *, live: bool) -> Iterator[MockSession]:
    marker = request.node.get_closest_marker("headshot_mock")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    strict = bool(options.pop("strict", True))
    with MockSession(live=live, **options) as session:
        request.node.stash.setdefault(_SESSIONS, []).append((session, strict))
        for scenario in request.node.iter_markers("headshot_scenario"):
            name = scenario.args[0] if scenario.args else scenario.kwargs["name"]
            provider = scenario.kwargs.get("provider")
            operation = scenario.kwargs.get("operation")
            providers = (
                [provider] if provider else [p for p, s in session.control.scenarios().items() if name in s]
            )
            if not providers:
                session.add_rule(session.config.served[0], name)  # raises, naming the valid scenarios
            for pid in providers:
                session.add_rule(pid, name, operation=operation, times=None)
        yield session


@pytest.fixture
def headshot_mock(request: pytest.FixtureRequest) -> Iterator[MockSession]:
    """An in-process mock of every provider, strict by default."""
    yield from _session(request, live=False)


@pytest.fixture
def headshot_mock_server(request: pytest.FixtureRequest) -> Iterator[MockSession]:
    """A mock served by uvicorn on a free loopback port, strict by default."""
    yield from _session(request, live=True)


@pytest.fixture
def headshot_webhooks(headshot_mock: MockSession) -> Iterator[WebhookReceiver]:
    """A receiver registered with ``headshot_mock`` for Magic Hour events; verifies signatures."""
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        headshot_mock.add_endpoint(receiver.url, secret=WEBHOOK_SECRET)
        yield receiver


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield
    for session, strict in item.stash.get(_SESSIONS, []):
        if strict:
            session.assert_no_violations()
    return result
