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

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from headshot_mock.contracts.receiver import WebhookReceiver
    from headshot_mock.contracts.session import MockSession

# Nothing of the mock is imported until a fixture is used: a test run that never asks for one
# pays for this module and pytest alone.
_SESSIONS = pytest.StashKey[list["MockSession"]]()
_RESULTS = pytest.StashKey[list[tuple[str, str, str, str]]]()
"""(provider, suite class, scenario, outcome) of client-suite tests, for the terminal summary."""
_JUDGED = pytest.StashKey[bool]()
"""Set once the test body returned and the sessions' violations were judged."""
_SUITE_MODULE = "headshot_mock.contracts.suite"
WEBHOOK_SECRET = "whsec_headshot_mock_tests"


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []
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
    from headshot_mock.contracts.session import MockSession

    marker = request.node.get_closest_marker("headshot_mock")
    with MockSession(live=live, **(marker.kwargs if marker else {})) as session:
        request.node.stash.setdefault(_SESSIONS, []).append(session)
        for scenario in request.node.iter_markers("headshot_scenario"):
            session.use_scenario(*scenario.args, **scenario.kwargs)
        yield session
        session.checked = True  # judged after the test (pytest_runtest_call), or shown with its failure


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
    from headshot_mock.contracts.receiver import WebhookReceiver

    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        headshot_mock.add_endpoint(receiver.url, secret=WEBHOOK_SECRET)
        yield receiver


@pytest.fixture(scope="class")
def headshot_suite_mock(request: pytest.FixtureRequest) -> Iterator[MockSession]:
    """The live mock one :class:`~headshot_mock.contracts.suite.ClientSuite` class runs against
    (each scenario judges its own requests)."""
    from headshot_mock.contracts.session import MockSession

    with MockSession(config=request.cls.session_config(), live=True, strict=False) as session:
        yield session


def _is_suite(cls: Any) -> bool:
    """A ClientSuite subclass; a module that defines one has imported the suite module."""
    suite = sys.modules.get(_SUITE_MODULE)
    return suite is not None and isinstance(cls, type) and issubclass(cls, suite.ClientSuite)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    cls = metafunc.cls
    if _is_suite(cls) and "scenario" in metafunc.fixturenames:
        assert cls is not None
        metafunc.parametrize("scenario", cls.scenarios(), ids=str)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield  # a test that raised is explained by _explain instead
    item.stash[_JUDGED] = True
    for session in item.stash.get(_SESSIONS, []):
        session.check()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    _explain(item, call)
    report: pytest.TestReport = yield
    suite = _suite_of(item)
    if suite is not None and (report.when == "call" or (report.when == "setup" and report.skipped)):
        item.config.stash[_RESULTS].append((*suite, report.outcome))
    return report


def _explain(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """However the test failed (a client's ``raise_for_status()`` on the mock's 400, an assert on
    its answer), the contract violations of its strict sessions go into the failure report."""
    if call.excinfo is None or call.excinfo.errisinstance(pytest.skip.Exception):
        return
    if item.stash.get(_JUDGED, False):  # the failure is the violations themselves
        return
    error = call.excinfo.value
    for session in item.stash.get(_SESSIONS, []):
        found = session.violations() if session.strict and session.started else []
        if found:
            error.add_note(
                f"headshot-mock: {len(found)} request(s) broke the documented contract (strict level):\n\n"
                + "\n\n".join(found)
            )


def _suite_of(item: pytest.Item) -> tuple[str, str, str] | None:
    cls: Any = getattr(item, "cls", None)
    if not _is_suite(cls):
        return None
    callspec = getattr(item, "callspec", None)
    scenario = str(callspec.params.get("scenario", "webhooks")) if callspec else "webhooks"
    return cls.provider, cls.__name__, scenario


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line per client suite: how many scenarios passed, which failed, how many were skipped."""
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    terminalreporter.section("headshot-mock client contract suites")
    by_suite: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for provider, suite, scenario, outcome in results:
        by_suite.setdefault((provider, suite), []).append((scenario, outcome))
    for (provider, suite), outcomes in sorted(by_suite.items()):
        ran = [(s, o) for s, o in outcomes if o != "skipped"]
        passed = sum(1 for _, o in ran if o == "passed")
        failing = [s for s, o in ran if o == "failed"]
        line = f"{provider:<10} {suite}: {passed}/{len(ran)} passed"
        if failing:
            line += f"; failing: {', '.join(failing)}"
        skipped = len(outcomes) - len(ran)
        if skipped:
            line += f" ({skipped} skipped)"
        terminalreporter.write_line(line)
