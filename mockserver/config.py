"""One typed configuration, built one way: defaults → config file → environment → overrides.

The CLI, the pytest plugin and :func:`mockserver.create_app` all end in a :class:`MockConfig`;
per-request controls (headers, API keys) only choose among what it allows. The environment is
read here and nowhere else.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from headshot_mock import specs
from headshot_mock.mockserver.errors import ConfigError
from headshot_mock.mockserver.targets import AllowList, parse_url
from headshot_mock.specs.errors import did_you_mean

Level = Literal["strict", "lenient"]
LEVELS: tuple[Level, ...] = ("strict", "lenient")
ENV_PREFIX = "HEADSHOT_MOCK_"
WORKER_CONFIG = f"{ENV_PREFIX}WORKER_CONFIG"
"""The whole config as JSON, handed by ``serve --workers N`` to its worker processes."""


@dataclass(frozen=True, slots=True)
class MockConfig:
    """Everything that shapes a mock server. Build with :meth:`load` or construct directly."""

    providers: tuple[str, ...] = ()
    """Provider ids to serve; empty means every bundled provider."""
    root_provider: str | None = None
    """Serve this one provider at the root (its real base path on this host) instead of under ``/<id>``."""
    host: str = "127.0.0.1"
    port: int = 4010
    level: Level = "lenient"
    """Validation level: ``strict`` (documented contract) or ``lenient`` (accepted in practice)."""
    scenario: str = "success"
    """The server default scenario (lowest precedence)."""
    seed: int = 0
    """Seeds ids, images and timings: same seed, same answers."""
    time_scale: float = 0.0
    """Provider-realistic durations are multiplied by this: 0 = instant, 1 = real time."""
    slow_seconds: float = 2.0
    """Latency the ``slow`` scenario adds."""
    timeout_seconds: float = 120.0
    """How long the ``timeout`` scenario holds a request (past any sane client timeout)."""
    journal_limit: int = 1000
    """Journal entries kept; the oldest are dropped."""
    journal_entry_bytes: int = 64 * 1024
    """Bytes one journal entry may hold: larger headers and bodies are cut there, with a marker."""
    public_url: str | None = None
    """Base URL to put in generated links (file, fetch, upload URLs); default: the request's.
    Its host is also one of the names the mock answers to (see ``guard.py``)."""
    admin: bool = True
    """Serve the admin API under ``/__mock/`` (``--no-admin``: only providers and their files)."""
    admin_token: str | None = dataclasses.field(default=None, repr=False)
    """When set, every ``/__mock/`` route requires ``Authorization: Bearer <token>``. Required
    to bind anything but a loopback address (unless ``admin`` is off)."""
    show_secrets: bool = False
    """List webhook secrets in clear in the admin API and print them at start."""
    webhooks: tuple[str, ...] = dataclasses.field(default=(), repr=False)  # may hold URL#secret
    """Webhook endpoints registered at start (Magic Hour): ``URL`` or ``URL#secret``, all events."""
    webhook_allow: tuple[str, ...] = ("127.0.0.0/8", "::1", "localhost")
    """Where webhooks may go: IP networks and host names. Anything else is refused and recorded."""
    webhook_timeout: float = 10.0
    """Seconds one delivery attempt may take (real time)."""
    webhook_attempts: int = 0
    """Attempts per delivery; 0 = the provider's own policy (ModelsLab 1, Magic Hour 8)."""
    webhook_backoff: float = 30.0
    """First retry delay in provider-realistic seconds, doubling each time (times time_scale)."""
    webhook_delay: float = 0.0
    """Chaos: real seconds added before every delivery."""
    webhook_duplicates: int = 0
    """Chaos: extra copies of every delivery (a receiver must be idempotent)."""
    webhook_reorder: bool = False
    """Chaos: deliver a job's final event before the ones that preceded it."""
    dribble_seconds: float = 2.0
    """How long the ``dribble`` fault takes to send an answer's body (real seconds)."""
    latency: tuple[str, ...] = ()
    """Latency added to every answer, seeded: ``[PROVIDER[.OPERATION]=]KIND:ARGS`` with ``fixed:S``,
    ``uniform:LOW,HIGH`` or ``lognormal:MEDIAN,SIGMA`` (seconds). The most specific entry applies."""
    enforce_rate_limits: bool = False
    """Answer 429 past the provider's documented rate limits (``x-provider.rate-limits`` in its spec)."""
    body_timeout: float = 10.0
    """Seconds a request body may pause between two chunks before the mock answers 408 (0 = never)."""
    header_timeout: float = 10.0
    """Seconds a connection has to send a request's headers (slowloris; 0 = no limit; served only)."""
    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open (served only)."""
    shutdown_timeout: float = 3.0
    """Seconds after SIGTERM before whatever still runs is cancelled (served only)."""
    specs: tuple[str, ...] = ()
    """Your own OpenAPI documents to serve: ``FILE`` or ``ID=FILE`` (``specs.load_file``). With
    specs and no ``providers``, only the specs are served; name bundled providers to add them."""
    dynamic: bool = False
    """Answers generated from a schema (no example) vary per request instead of per seed."""
    watch: bool = False
    """Reload a changed spec file without a restart (a broken edit keeps the last good one)."""
    # state and its limits (docs/scale-out.md, docs/limits-and-security.md) ---------------------
    state: str = "memory"
    """Where state lives: ``memory`` (this process) or ``redis://host:port/db`` (shared by workers)."""
    state_prefix: str = "headshot-mock"
    """Every Redis key starts with ``<prefix>:``, so several mocks can share one Redis (and reset
    clears only its own)."""
    workers: int = 1
    """Worker processes ``serve`` starts (more than 1 needs shared state)."""
    claim_lease: float = 30.0
    """Real seconds a worker may hold a due event (a job phase, a webhook attempt) before another
    worker takes it over: how long a worker killed mid-event delays that event."""
    journal_max_bytes: int = 64 * 1024 * 1024
    """Bytes of journal entries kept (as JSON); the oldest are dropped."""
    deliveries_limit: int = 1000
    """Webhook deliveries (and their journal attempts) kept, apart from the journal's request entries."""
    rules_limit: int = 1000
    """Queued scenario rules at most; adding one more is refused (409)."""
    endpoints_limit: int = 100
    """Registered webhook endpoints at most; registering one more is refused (409)."""
    uploads_limit: int = 256
    """Uploaded files kept; the oldest are evicted (a later call naming one says it was evicted)."""
    uploads_max_bytes: int = 256 * 1024 * 1024
    """Total bytes of uploads kept; the oldest are evicted past it."""

    def __post_init__(self) -> None:
        if not isinstance(self.specs, tuple):  # a list from Python (MockSession(specs=[...]))
            object.__setattr__(self, "specs", tuple(str(s) for s in self.specs))
        known = (*specs.providers(), *self.spec_ids)
        if len(set(self.spec_ids)) != len(self.spec_ids):
            raise ConfigError(
                f"Two specs share an id ({', '.join(self.spec_ids)}): give each its own with ID=FILE."
            )
        for provider in (*self.providers, *(() if self.root_provider is None else (self.root_provider,))):
            if provider not in known:
                raise ConfigError(f"Unknown provider {provider!r}.{did_you_mean(provider, known)}")
        if self.level not in LEVELS:
            raise ConfigError(f"Unknown validation level {self.level!r}.{did_you_mean(self.level, LEVELS)}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, got {self.port}")
        for name in ("time_scale", "slow_seconds", "timeout_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.journal_limit < 1:
            raise ConfigError(f"journal_limit must be >= 1, got {self.journal_limit}")
        if self.journal_entry_bytes < 1024:
            raise ConfigError(f"journal_entry_bytes must be >= 1024, got {self.journal_entry_bytes}")
        for name in (
            "webhook_timeout",
            "webhook_backoff",
            "webhook_delay",
            "body_timeout",
            "header_timeout",
            "keepalive_timeout",
            "shutdown_timeout",
            "dribble_seconds",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.webhook_attempts < 0 or self.webhook_duplicates < 0:
            raise ConfigError("webhook_attempts and webhook_duplicates must be >= 0")
        if self.admin_token is not None and (not self.admin_token or not self.admin_token.isprintable()):
            raise ConfigError("admin_token must be a non-empty printable string")
        if self.admin and self.admin_token is None and not is_loopback(self.host):
            raise ConfigError(
                f"Binding {self.host!r} would open the admin API (/__mock/: reset, rules, journal, "
                "clock) to the network. Pass --admin-token TOKEN (or HEADSHOT_MOCK_ADMIN_TOKEN, or "
                "admin_token in the config file) so that /__mock/ requires 'Authorization: Bearer "
                "TOKEN', or --no-admin to serve the providers without it."
            )
        parse_allow(self.webhook_allow)
        self.latency_rules  # noqa: B018 - parsed here, so a bad entry is an error at start
        for name in (
            "workers",
            "journal_max_bytes",
            "deliveries_limit",
            "rules_limit",
            "endpoints_limit",
            "uploads_limit",
            "uploads_max_bytes",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.claim_lease <= 0:
            raise ConfigError(f"claim_lease must be > 0 seconds, got {self.claim_lease}")
        if self.state != "memory" and self.state.partition("://")[0] not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"state must be 'memory' or a Redis URL (redis://host:port/db), got {self.state!r}."
            )
        if not self.state_prefix or any(c.isspace() for c in self.state_prefix):
            raise ConfigError(f"state_prefix must be a non-empty word, got {self.state_prefix!r}.")
        if self.workers > 1 and self.state == "memory":
            raise ConfigError(
                f"workers={self.workers} needs shared state: with in-memory state every worker process "
                "would keep its own jobs, rules and journal, and a job created through one would be "
                "unknown to the others. Start Redis and add --state redis://127.0.0.1:6379/0 "
                "(docs/scale-out.md), or serve with --workers 1."
            )
        for endpoint in self.webhooks:
            parse_endpoint(endpoint)

    @property
    def latency_rules(self) -> tuple[LatencyRule, ...]:
        return tuple(parse_latency(text) for text in self.latency)

    @property
    def served(self) -> tuple[str, ...]:
        if self.root_provider is not None:
            return (self.root_provider,)
        chosen = self.providers or (() if self.specs else specs.providers())
        return (*chosen, *(i for i in self.spec_ids if i not in chosen))

    @property
    def spec_ids(self) -> tuple[str, ...]:
        """The ids of :attr:`specs` (loading and registering each file: cached while unchanged)."""
        return tuple(specs.load_file(path, name).id for name, path in map(specs.parse_entry, self.specs))

    def replace(self, **changes: Any) -> MockConfig:
        """A copy with ``changes`` applied (unknown names are refused with the valid ones)."""
        _check_names(changes, "option")
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    def export_for_workers(self) -> None:
        """Hand this config to the worker processes ``serve --workers`` starts (they inherit it)."""
        os.environ[WORKER_CONFIG] = self.to_json()

    @classmethod
    def for_worker(cls, environ: Mapping[str, str] | None = None) -> MockConfig:
        """The config ``serve`` handed to this worker process (:data:`WORKER_CONFIG`)."""
        environ = os.environ if environ is None else environ
        raw = environ.get(WORKER_CONFIG)
        if raw is None:
            raise ConfigError(
                f"{WORKER_CONFIG} is not set: worker processes are started by `serve --workers`."
            )
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(raw).items()
        }
        return cls(**values)

    @classmethod
    def load(
        cls,
        *,
        file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> MockConfig:
        """Defaults, then ``file`` (YAML or JSON), then ``HEADSHOT_MOCK_*`` variables, then overrides.

        ``environ`` defaults to ``os.environ``; ``HEADSHOT_MOCK_CONFIG`` names a file when
        ``file`` is not given.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        file = file or environ.get(f"{ENV_PREFIX}CONFIG")
        if file:
            values.update(_read_file(Path(file)))
        values.update(_from_environ(environ))
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        _check_names(values, "option")
        return cls(**{k: _coerce(k, v) for k, v in values.items()})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine only."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_allow(entries: tuple[str, ...]) -> AllowList:
    """The webhook allow-list; an entry that cannot be parsed is a :class:`ConfigError` (targets.py)."""
    return AllowList(entries)


@dataclass(frozen=True, slots=True)
class LatencyRule:
    """One ``latency`` entry: a distribution (seconds) for every provider, one, or one operation."""

    provider: str | None
    operation: str | None
    kind: Literal["fixed", "uniform", "lognormal"]
    a: float
    b: float = 0.0

    @property
    def specificity(self) -> int:
        return (self.provider is not None) + (self.operation is not None)


_LATENCY_ARGS = {"fixed": 1, "uniform": 2, "lognormal": 2}


def parse_latency(text: str) -> LatencyRule:
    """``[PROVIDER[.OPERATION]=]KIND:ARGS``: ``fixed:0.2``, ``agentai=uniform:0.1,0.5``,
    ``modelslab.fetchQueued=lognormal:0.3,0.5`` (median, sigma)."""
    scope, _, spec = text.rpartition("=")
    kind, _, args = spec.strip().partition(":")
    provider, _, operation = scope.strip().partition(".")
    usage = "write [PROVIDER[.OPERATION]=]fixed:S, uniform:LOW,HIGH or lognormal:MEDIAN,SIGMA (seconds)"
    if kind not in _LATENCY_ARGS:
        raise ConfigError(
            f"Latency {text!r}: unknown distribution {kind!r}.{did_you_mean(kind, _LATENCY_ARGS)} "
            f"{usage[0].upper()}{usage[1:]}."
        )
    try:
        values = [float(v) for v in args.split(",")] if args else []
    except ValueError:
        raise ConfigError(f"Latency {text!r}: {args!r} are not numbers; {usage}.") from None
    if len(values) != _LATENCY_ARGS[kind] or not all(math.isfinite(v) and 0 <= v <= 3600 for v in values):
        raise ConfigError(
            f"Latency {text!r}: {kind} takes {_LATENCY_ARGS[kind]} number(s) in 0..3600; {usage}."
        )
    if kind == "uniform" and values[0] > values[1]:
        raise ConfigError(f"Latency {text!r}: LOW must not be above HIGH.")
    if operation and not provider:
        raise ConfigError(f"Latency {text!r}: an operation needs its provider (PROVIDER.OPERATION=...).")
    if provider:
        from headshot_mock.specs import document  # your own specs (--spec), registered as loaded

        providers = (*specs.providers(), *document.registered_ids())
        if provider not in providers:
            raise ConfigError(
                f"Latency {text!r}: unknown provider {provider!r}.{did_you_mean(provider, providers)}"
            )
    if operation:
        known = [op.operation_id for op in specs.load(provider).operations]
        if operation not in known:
            raise ConfigError(
                f"Latency {text!r}: {provider} has no operation {operation!r}."
                f"{did_you_mean(operation, known)}"
            )
    return LatencyRule(provider or None, operation or None, kind, *values)  # type: ignore[arg-type]


def parse_endpoint(text: str) -> tuple[str, str | None]:
    """``URL`` or ``URL#secret`` → (url, secret)."""
    url, _, secret = text.partition("#")
    try:
        parse_url(url)
    except ConfigError as exc:
        raise ConfigError(
            f"Webhook endpoint: {exc} (write an http(s) URL, optionally followed by #secret)"
        ) from None
    return url, secret or None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")
_FIELDS = {f.name: f for f in dataclasses.fields(MockConfig)}


def _check_names(values: Mapping[str, Any], what: str) -> None:
    for name in values:
        if name not in _FIELDS:
            raise ConfigError(f"Unknown {what} {name!r}.{did_you_mean(name, _FIELDS)}")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {str(path)!r}: {exc.strerror}.") from None
    import yaml  # only for a config file

    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML/JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Config file {str(path)!r} must hold a mapping of options, got {type(data).__name__}."
        )
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    if isinstance(values.get("specs"), list | str):  # paths relative to the config file
        entries = values["specs"].split(",") if isinstance(values["specs"], str) else values["specs"]
        values["specs"] = tuple(_beside(path, str(e).strip()) for e in entries if str(e).strip())
    try:
        _check_names(values, f"option in {path.name}")
    except ConfigError as exc:
        raise ConfigError(str(exc)) from None
    return values


def _beside(config: Path, entry: str) -> str:
    name, file = specs.parse_entry(entry)
    if not Path(file).is_absolute():
        file = str(config.parent / file)
    return f"{name}={file}" if name else file


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key in (f"{ENV_PREFIX}CONFIG", WORKER_CONFIG):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in _FIELDS:
            raise ConfigError(
                f"Unknown environment variable {key}.{did_you_mean(name, _FIELDS)} "
                f"(variables are {ENV_PREFIX}<OPTION> in upper case)"
            )
        values[name] = raw
    return values


def _coerce(name: str, value: Any) -> Any:
    """Turn strings from the environment or a file into the field's type, with a clear error."""
    default = _FIELDS[name].default
    try:
        if name in ("providers", "webhooks", "webhook_allow", "specs", "latency"):
            separator = ";" if name == "latency" else ","  # a latency entry has commas of its own
            items = value.split(separator) if isinstance(value, str) else list(value)
            return tuple(p.strip() for p in items if p.strip())
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in _TRUE + _FALSE:
                raise ValueError(text)
            return text in _TRUE
        if isinstance(default, int) and not isinstance(default, bool):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except (TypeError, ValueError):
        names = {"int": "whole number", "float": "number", "bool": "boolean (true/false)"}
        kind = names.get(type(default).__name__, type(default).__name__)
        raise ConfigError(f"Option {name!r} must be a {kind}, got {value!r}.") from None
    return value
