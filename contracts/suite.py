"""The client contract suite: run *your* client through every scenario of a provider.

Subclass :class:`ClientSuite` in a test module, say how your client generates headshots, and
declare what it should do in each scenario; pytest runs one test per scenario:

    from headshot_mock.contracts.suite import ClientSuite, images, raises

    class TestMyModelsLabClient(ClientSuite):
        provider = "modelslab"
        expect = {"rate_limited": images(), "error": raises(MyClientError)}   # the rest: defaults

        def generate(self, base_url, api_key, photo):
            return MyClient(base_url=base_url, key=api_key).headshots(photo)   # -> list of image bytes

Each test checks both sides of the contract: every request the client sent conformed to the
documented contract (strict level), and its outcome is the declared one. Scenarios are steered
the way an unmodified SDK can be: by the API key (``mock-<scenario>``), or, for transient errors
(``rate_limited``, ``server_error``), by failing only the first call so a retry can succeed.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from headshot_mock.contracts.session import MockSession
from headshot_mock.contracts.violations import ContractViolation
from headshot_mock.mockserver import MockConfig
from headshot_mock.mockserver.app import scenario_books
from headshot_mock.mockserver.providers import plugin_for

TRANSIENT = ("rate_limited", "server_error")
"""Scenarios a good client may retry: only the first call fails."""
SUCCEEDING = ("success", "slow", "processing", "dribble")
"""Scenarios whose default expectation is images."""
NOT_CLIENT_FACING = (
    "invalid_request",
    "queued",
    "validation_error",
    "expired",
    "forbidden",
    "not_found",
    "unprocessable",
    "missing_key",
)
"""Example names that describe answers to requests a correct client does not send."""


@dataclass(frozen=True, slots=True)
class Expect:
    """What a client should do in one scenario."""

    images: bool
    error: type[BaseException] | tuple[type[BaseException], ...] = ()
    match: str | None = None
    minimum: int = 1
    returns: bool = False
    """The client returns normally (whatever it returns): a user spec's success, by default."""

    def describe(self) -> str:
        if self.returns:
            return "return normally"
        if self.images:
            return f"return at least {self.minimum} decodable image(s)"
        names = self.error if isinstance(self.error, tuple) else (self.error,)
        raised = " or ".join(t.__name__ for t in names)
        return f"raise {raised}" + (f" matching {self.match!r}" if self.match else "")


def images(minimum: int = 1) -> Expect:
    """The client returns at least ``minimum`` images (bytes, or paths to files) that decode."""
    return Expect(images=True, minimum=minimum)


def returns() -> Expect:
    """The client returns without raising (the default success of a suite over your own spec)."""
    return Expect(images=False, returns=True)


def raises(
    error: type[BaseException] | tuple[type[BaseException], ...] = Exception, match: str | None = None
) -> Expect:
    """The client raises ``error`` (whose message matches the regex ``match``)."""
    return Expect(images=False, error=error, match=match)


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Any = None
    error: BaseException | None = None
    timed_out: bool = False


class ClientSuite:
    """Base class of a client contract suite (see the module docstring)."""

    provider: ClassVar[str] = ""
    spec: ClassVar[str | None] = None
    """Your own OpenAPI file (``[ID=]FILE``) instead of a bundled ``provider``: its id becomes
    :attr:`provider`, its examples and statuses the scenarios (docs/your-own-spec.md)."""
    expect: ClassVar[Mapping[str, Expect]] = {}
    """Per-scenario expectations; scenarios not named get the defaults (:meth:`expectation`)."""
    skip: ClassVar[tuple[str, ...]] = ()
    """Scenarios not to run (the test is reported as skipped, with the reason)."""
    deadline: ClassVar[float] = 30.0
    """Seconds one scenario may take before the client is deemed hung."""
    hold: ClassVar[float] = 5.0
    """How long the ``timeout`` scenario holds a request (on the mock clock: once the client has
    given up, the suite moves the clock past the hold instead of waiting it out): set the
    client's timeout below it."""
    webhook_secret: ClassVar[str] = "whsec_contract_suite"
    contract_level: ClassVar[str] = "strict"
    """The level at which sent requests are judged: ``strict`` (the documented contract) or
    ``lenient`` (only what the provider refuses in practice)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("spec"):
            from headshot_mock import specs

            name, path = specs.parse_entry(str(cls.spec))
            cls.provider = specs.load_file(path, name).id

    def generate(self, base_url: str, api_key: str, photo: bytes) -> Any:
        """Generate headshots with your client; return the images (bytes or file paths)."""
        raise NotImplementedError("a ClientSuite subclass implements generate(base_url, api_key, photo)")

    def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> int:
        """Optional: feed one delivery to your webhook handler and return the status it answers."""
        raise NotImplementedError

    # what pytest runs -----------------------------------------------------------------------
    def test_scenario(self, scenario: str, headshot_suite_mock: MockSession) -> None:
        """One test per scenario (the plugin parametrizes ``scenario``)."""
        if scenario in self.skip:
            pytest.skip(f"{type(self).__name__}.skip lists {scenario!r}")
        self.run_scenario(headshot_suite_mock, scenario)

    def test_webhook_signatures(self, headshot_suite_mock: MockSession) -> None:
        """Only where the provider signs webhooks and the suite has a ``handle_webhook``."""
        if (
            not plugin_for(self.provider).webhook_events
            or type(self).handle_webhook is ClientSuite.handle_webhook
        ):
            pytest.skip("no signed webhooks to check (provider does not sign, or no handle_webhook)")
        self.run_webhook_check(headshot_suite_mock)

    @classmethod
    def scenarios(cls) -> list[str]:
        book = scenario_books((cls.provider,))[cls.provider]
        return [name for name in book.names if name not in NOT_CLIENT_FACING]

    @classmethod
    def expectation(cls, scenario: str) -> Expect:
        if scenario in cls.expect:
            return cls.expect[scenario]
        if scenario in SUCCEEDING:
            return returns() if cls.spec else images()
        return raises()

    @classmethod
    def session_config(cls) -> MockConfig:
        own = (str(cls.spec),) if cls.spec else ()
        return MockConfig(
            level="strict", slow_seconds=0.2, dribble_seconds=0.2, timeout_seconds=cls.hold, seed=0, specs=own
        )

    def run_scenario(self, mock: MockSession, scenario: str) -> None:
        """Steer ``mock`` into ``scenario``, run the client, check both sides of the contract."""
        mock.reset()
        key = "suite-key"
        if scenario in TRANSIENT:
            mock.add_rule(self.provider, scenario, times=1)
        elif scenario != "success" and self.spec:  # a rule works whatever the spec's security
            mock.add_rule(self.provider, scenario, times=None)
        elif scenario != "success":
            key = f"mock-{scenario}"
        expected = self.expectation(scenario)
        started = time.monotonic()
        outcome = self._run(mock.base_url(self.provider), key)
        if scenario == "timeout":
            self._release_held(mock, started)
        problems = self._judge(scenario, expected, outcome)
        found = mock.violations(level=self.contract_level)
        if found:
            problems.append("it sent requests that break the documented contract:\n\n" + "\n\n".join(found))
        if problems:
            made = [f"{e['operation']}→{e['status']}" for e in mock.requests()]
            calls = ", ".join(made[:12]) + (f", … ({len(made)} in all)" if len(made) > 12 else "") or "none"
            raise ContractViolation(
                f"{type(self).__name__} under scenario {scenario!r} should {expected.describe()}, but "
                + "; and ".join(problems)
                + f"\n(calls: {calls})"
            )

    def run_webhook_check(self, mock: MockSession) -> None:
        """A signed delivery is accepted; tampered and unsigned ones are refused."""
        body = b'{"type": "image.completed", "payload": {"id": "suite"}}'
        now = int(time.time())
        signed = {
            "content-type": "application/json",
            **plugin_for(self.provider).webhook_headers(self.webhook_secret, now, body),
        }
        problems = []
        if not 200 <= self.handle_webhook(signed, body) < 300:
            problems.append("it refused a correctly signed delivery")
        tampered = body.replace(b"suite", b"other")
        if 200 <= self.handle_webhook(signed, tampered) < 300:
            problems.append("it accepted a delivery whose body does not match its signature")
        if 200 <= self.handle_webhook({"content-type": "application/json"}, body) < 300:
            problems.append("it accepted an unsigned delivery")
        if problems:
            raise ContractViolation(f"{type(self).__name__}'s webhook handler: " + "; ".join(problems))

    # internals ------------------------------------------------------------------------------------
    def _release_held(self, mock: MockSession, started: float) -> None:
        """End the ``timeout`` hold the client gave up on, so the held request lands in this
        scenario's journal: the mock holds on its clock, so moving the clock past the hold ends
        it now instead of ``hold`` real seconds after the call."""
        mock.advance(self.hold)
        deadline = started + self.hold + 1.0  # bounded: at worst the hold ends by itself
        while time.monotonic() < deadline:
            if any(e.get("requested_scenario") == "timeout" for e in mock.requests()):
                time.sleep(0.05)  # a retried call held beside it wakes on the same tick
                return
            time.sleep(0.01)

    def _run(self, base_url: str, key: str) -> Outcome:
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = self.generate(base_url, key, sample_photo())
            except BaseException as exc:  # the outcome under test, whatever it is
                box["error"] = exc

        thread = threading.Thread(target=work, name="contract-suite-client", daemon=True)
        thread.start()
        thread.join(self.deadline)
        if thread.is_alive():
            return Outcome(timed_out=True)
        return Outcome(result=box.get("result"), error=box.get("error"))

    def _judge(self, scenario: str, expected: Expect, outcome: Outcome) -> list[str]:
        if outcome.timed_out:
            return [
                f"the client did not return within {self.deadline:g} s (does it poll forever?); "
                "it is still running in the background and may call the mock during later scenarios"
            ]
        if expected.returns:
            if outcome.error is not None:
                return [f"it raised {type(outcome.error).__name__}: {outcome.error}"]
            return []
        if expected.images:
            if outcome.error is not None:
                return [f"it raised {type(outcome.error).__name__}: {outcome.error}"]
            count = _decodable(outcome.result)
            if count < expected.minimum:
                return [f"it returned {count} decodable image(s) ({_short(outcome.result)})"]
            return []
        if outcome.error is None:
            return [f"it returned normally ({_short(outcome.result)})"]
        if not isinstance(outcome.error, expected.error):
            return [f"it raised {type(outcome.error).__name__}: {outcome.error}"]
        if expected.match and not re.search(expected.match, str(outcome.error)):
            return [f"its {type(outcome.error).__name__} says {str(outcome.error)!r}"]
        return []


def _decodable(result: Any) -> int:
    items = result if isinstance(result, list | tuple) else ([] if result is None else [result])
    count = 0
    for item in items:
        data = Path(item).read_bytes() if isinstance(item, str | Path) else item
        if not isinstance(data, bytes | bytearray):
            continue
        try:
            Image.open(io.BytesIO(data)).verify()
        except Exception:
            continue
        count += 1
    return count


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def sample_photo() -> bytes:
    """A small JPEG portrait to hand to clients under test."""
    from headshot_mock.mockserver import images as pictures

    return pictures.render(pictures.Recipe(seed=7, index=0, width=256, height=320, format="jpeg"))
