"""``headshot-mock``: the thin top of the toolkit. Each command turns flags into a config and
calls one library function (it lives in ``contracts``, the top layer, because ``verify`` is
a contract check and ``serve`` a mock-server one).

headshot-mock serve [--provider ID] [--port 4010] [--scenario NAME] [--level lenient] [--spec FILE] ...
headshot-mock scenarios [--provider ID]
headshot-mock providers
headshot-mock verify --provider ID --base-url URL [--api-key KEY] [--max-requests 100] [--dry-run] ...
headshot-mock proxy --provider ID | --spec FILE --upstream URL [--errors] [--max-requests 20] [--record DIR]
headshot-mock drift DIR [--provider ID | --spec FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import errno
import socket
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from headshot_mock import specs
from headshot_mock.mockserver import LEVELS, ConfigError, MockConfig, MockError
from headshot_mock.specs.errors import did_you_mean

PROG = "headshot-mock"


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for mistyped flags."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            parsers = [
                self,
                *(
                    p
                    for a in self._actions
                    for p in (getattr(a, "choices", None) or {}).values()
                    if isinstance(p, argparse.ArgumentParser)
                ),
            ]
            flags = sorted({o for parser in parsers for a in parser._actions for o in a.option_strings})
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], flags, n=1)
                if close:
                    message += f" (did you mean {close[0]}?)"
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Offline doubles of AI-headshot provider APIs.")
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="serve the mock providers over HTTP")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 4010)")
    serve.add_argument(
        "--provider", dest="root_provider", metavar="ID", help="serve one provider at the root"
    )
    serve.add_argument("--providers", metavar="ID,ID", help="serve only these providers, each under /<id>")
    serve.add_argument("--level", choices=LEVELS, help="validation level (default lenient)")
    serve.add_argument("--scenario", metavar="NAME", help="default scenario (default success)")
    serve.add_argument("--seed", type=int, help="seed for ids, images and timings (default 0)")
    serve.add_argument("--time-scale", type=float, help="multiply provider-realistic durations (0 = instant)")
    serve.add_argument("--slow-seconds", type=float, help="latency the `slow` scenario adds (default 2)")
    serve.add_argument(
        "--timeout-seconds", type=float, help="how long `timeout` holds a request (default 120)"
    )
    serve.add_argument("--journal-limit", type=int, help="journal entries kept (default 1000)")
    serve.add_argument(
        "--journal-entry-bytes", type=int, help="bytes one journal entry may hold (default 65536)"
    )
    serve.add_argument("--public-url", metavar="URL", help="base URL for links the mock hands out")
    serve.add_argument("--config", metavar="FILE", help="YAML/JSON config file (also $HEADSHOT_MOCK_CONFIG)")
    guard = serve.add_argument_group("security")
    guard.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on /__mock/ (needed to bind a non-loopback --host)",
    )
    guard.add_argument(
        "--no-admin",
        dest="admin",
        action="store_false",
        default=None,
        help="serve without the admin API (/__mock/ answers 404; generated files still served)",
    )
    guard.add_argument(
        "--show-secrets",
        action="store_true",
        default=None,
        help="print webhook secrets at start and list them in clear in the admin API",
    )
    own = serve.add_argument_group("your own OpenAPI documents (docs/your-own-spec.md)")
    own.add_argument(
        "--spec",
        dest="specs",
        action="append",
        metavar="[ID=]FILE",
        help="serve this OpenAPI 3.0/3.1 file (YAML or JSON) under /<id> (repeatable)",
    )
    own.add_argument(
        "--dynamic",
        action="store_true",
        default=None,
        help="answers generated from a schema vary per request (default: one per seed)",
    )
    own.add_argument("--watch", action="store_true", default=None, help="reload a spec file when it changes")
    state = serve.add_argument_group("state (docs/scale-out.md)")
    state.add_argument(
        "--state",
        metavar="memory|redis://HOST:PORT/DB",
        help="where state lives: memory (default) or a Redis shared by workers and hosts",
    )
    state.add_argument(
        "--state-prefix", metavar="WORD", help="Redis key prefix of this mock (default headshot-mock)"
    )
    state.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes sharing the state (default 1; >1 needs --state)",
    )
    hooks = serve.add_argument_group("webhooks")
    hooks.add_argument(
        "--webhook",
        dest="webhooks",
        action="append",
        metavar="URL[#SECRET]",
        help="register a Magic Hour webhook endpoint for every event (repeatable)",
    )
    hooks.add_argument(
        "--webhook-allow",
        action="append",
        metavar="NETWORK|HOST",
        help="add an IP network or host name to the webhook allow-list (repeatable; default list: loopback)",
    )
    hooks.add_argument(
        "--webhook-timeout", type=float, help="seconds one delivery attempt may take (default 10)"
    )
    hooks.add_argument(
        "--webhook-attempts", type=int, help="attempts per delivery (default: the provider's policy)"
    )
    hooks.add_argument(
        "--webhook-backoff", type=float, help="first retry delay, doubling (x time scale; default 30)"
    )
    hooks.add_argument("--webhook-delay", type=float, help="chaos: seconds added before every delivery")
    hooks.add_argument("--webhook-duplicates", type=int, help="chaos: extra copies of every delivery")
    hooks.add_argument(
        "--webhook-reorder",
        action="store_true",
        default=None,
        help="chaos: deliver a job's final event before the earlier ones",
    )

    chaos = serve.add_argument_group("faults, latency and rate limits")
    chaos.add_argument(
        "--latency",
        action="append",
        metavar="[ID[.OP]=]KIND:ARGS",
        help="added latency, seeded: fixed:S, uniform:LOW,HIGH or lognormal:MEDIAN,SIGMA (repeatable)",
    )
    chaos.add_argument(
        "--dribble-seconds", type=float, help="how long the `dribble` fault takes to send a body (default 2)"
    )
    chaos.add_argument(
        "--enforce-rate-limits",
        action="store_true",
        default=None,
        help="answer 429 past each provider's documented rate limits",
    )
    limits = serve.add_argument_group("connections")
    limits.add_argument(
        "--body-timeout", type=float, help="seconds a request body may stall before a 408 (default 10)"
    )
    limits.add_argument(
        "--header-timeout", type=float, help="seconds to send a request's headers (default 10)"
    )
    limits.add_argument(
        "--keepalive-timeout", type=float, help="seconds an idle connection stays open (default 5)"
    )
    limits.add_argument(
        "--shutdown-timeout",
        type=float,
        help="seconds after SIGTERM before the rest is cancelled (default 3)",
    )

    scenarios = commands.add_parser("scenarios", help="list the scenarios of each provider")
    scenarios.add_argument("--provider", metavar="ID", help="only this provider")
    scenarios.add_argument("--spec", metavar="[ID=]FILE", help="the scenarios of your own OpenAPI file")

    commands.add_parser("providers", help="list the bundled providers and their base URLs")

    from headshot_mock.contracts.verify_settings import DEFAULT_MAX_EXAMPLES, DEFAULT_MAX_REQUESTS

    check = commands.add_parser(
        "verify",
        help="run schemathesis against a server with a provider's bundled spec",
        description="Check a server (the mock, a proxy, the real provider) against the bundled spec of one "
        "provider: positive, negative and stateful (links) requests, reported per operation.",
    )
    check.add_argument("--provider", metavar="ID", help="the bundled spec to check against")
    check.add_argument("--spec", metavar="[ID=]FILE", help="or your own OpenAPI file to check against")
    check.add_argument(
        "--base-url",
        required=True,
        metavar="URL",
        help="the provider's base on the server under test (e.g. http://127.0.0.1:4010/modelslab/api)",
    )
    check.add_argument(
        "--api-key", metavar="KEY", help="API key to send (default: a placeholder the mock accepts)"
    )
    check.add_argument(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        metavar="N",
        help=f"hard cap on HTTP requests sent (default {DEFAULT_MAX_REQUESTS})",
    )
    check.add_argument(
        "--max-examples",
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        metavar="N",
        help=f"requests per operation and phase, within the budget (default {DEFAULT_MAX_EXAMPLES})",
    )
    check.add_argument(
        "--junit-xml", metavar="FILE", help="also write a JUnit report (one testcase per operation)"
    )
    check.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback base URL (a real provider bills calls)",
    )
    check.add_argument("--dry-run", action="store_true", help="print what would be sent and send nothing")
    check.add_argument("--seed", type=int, help="Hypothesis seed, to replay a run (default: random, printed)")
    _proxy_parsers(commands)
    return parser


def _proxy_parsers(commands: Any) -> None:
    proxy = commands.add_parser(
        "proxy",
        help="forward to a real (or any) server, validating both sides against a spec (docs/proxy.md)",
        description="Serve a spec's operations at their real paths and forward each request to --upstream; "
        "requests and the upstream's answers are validated against the spec, journaled (keys redacted) "
        "and reported in X-Mock-Violations; a summary is printed on exit.",
    )
    proxy.add_argument("--provider", metavar="ID", help="a bundled spec")
    proxy.add_argument("--spec", metavar="[ID=]FILE", help="or your own OpenAPI file")
    proxy.add_argument(
        "--upstream", required=True, metavar="URL", help="the provider's base URL to forward to"
    )
    proxy.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    proxy.add_argument("--port", type=int, default=4011, help="port to bind (default 4011)")
    proxy.add_argument(
        "--level", choices=LEVELS, default="lenient", help="validation level (default lenient)"
    )
    proxy.add_argument(
        "--errors",
        action="store_true",
        help="answer a request the level rejects with the provider's error, without forwarding it",
    )
    from headshot_mock.contracts.verify_settings import PROXY_MAX_REQUESTS as DEFAULT_MAX_REQUESTS

    proxy.add_argument(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        metavar="N",
        help=f"requests forwarded at most, then 429 (default {DEFAULT_MAX_REQUESTS}: calls cost credits)",
    )
    proxy.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback upstream (a real provider bills calls)",
    )
    proxy.add_argument("--record", metavar="DIR", help="save each exchange (redacted) as a named example")
    drift = commands.add_parser("drift", help="how answers recorded by `proxy --record` differ from the spec")
    drift.add_argument("folder", metavar="DIR", help="the folder `proxy --record` wrote")
    drift.add_argument(
        "--provider", metavar="ID", help="compare with this bundled spec (default: as recorded)"
    )
    drift.add_argument("--spec", metavar="[ID=]FILE", help="or with your own OpenAPI file")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "scenarios":
            return _scenarios(_own(args.spec) if args.spec else args.provider)
        if args.command == "verify":
            return _verify(args)
        if args.command == "proxy":
            return _proxy(args)
        if args.command == "drift":
            return _drift(args)
        return _providers()
    except (MockError, specs.SpecError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


def config_from(args: argparse.Namespace) -> MockConfig:
    """Flags that were given override the config file and environment; the rest keep them."""
    fields = {f.name for f in dataclasses.fields(MockConfig)}
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    for name in ("webhooks", "specs", "latency"):
        if name in overrides:
            overrides[name] = tuple(overrides[name])
    extra_allow = tuple(overrides.pop("webhook_allow", ()))
    config = MockConfig.load(file=args.config, overrides=overrides)
    if extra_allow:  # --webhook-allow adds to the allow-list (loopback stays allowed)
        config = config.replace(webhook_allow=(*config.webhook_allow, *extra_allow))
    _check_scenario(config)
    return config


def _check_scenario(config: MockConfig) -> None:
    from headshot_mock.mockserver import scenario_names

    names = scenario_names(config)
    if config.scenario not in names:
        raise ConfigError(f"Unknown scenario {config.scenario!r}.{did_you_mean(config.scenario, names)}")


def _version() -> str:
    import headshot_mock

    return str(headshot_mock.__version__)


class _Version(argparse.Action):
    """``--version``, reading the version only when asked (importlib.metadata costs ~15 ms of
    every start otherwise)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"{PROG} {_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def _listening_socket(host: str, port: int) -> socket.socket:
    """The socket ``serve`` will answer on, bound before anything is printed: a port in use is
    one line saying so and what to do, not a banner followed by an errno."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use (another headshot-mock or server listens "
                f"there): stop it, or serve on another port with --port N."
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    return sock


def _serve(args: argparse.Namespace) -> int:
    from headshot_mock.mockserver import base_urls, create_app, redact_url, serve

    config = config_from(args)
    _check_state(config)
    app = create_app(config=config)
    sock = _listening_socket(config.host, config.port)  # a port in use: one line, before the banner
    print(
        f"{PROG} serving on http://{config.host}:{config.port} "
        f"(level {config.level}, scenario {config.scenario}, seed {config.seed}, "
        f"time scale {config.time_scale})"
    )
    if config.state != "memory":
        print(
            f"  {'state':<10} {getattr(app.store, 'where', config.state)} "
            f"(prefix {config.state_prefix}), {config.workers} worker(s)"
        )
    for provider, url in base_urls(config).items():
        print(f"  {provider:<10} {url}")
        for note in getattr(app.providers[provider], "notes", ()):
            print(f"  {'':<10}   note: {note}")
    takers = [p for p in app.providers.values() if p.webhook_events]
    for endpoint in config.webhooks:
        url, _, secret = endpoint.partition("#")
        for plugin in takers:
            if config.show_secrets:
                signed = f"signed with {secret or plugin.default_secret}"
            else:
                signed = "signed; --show-secrets prints the secret"
            shown = url if config.show_secrets else redact_url(url)
            print(f"  {'webhook':<10} {shown}  ({plugin.spec.title} events, {signed})")
    if not config.admin:
        admin = "off (--no-admin)"
    else:
        token = " - needs Authorization: Bearer <--admin-token>" if config.admin_token else ""
        admin = (
            f"http://{config.host}:{config.port}/__mock/"
            f"  (web page: journal, jobs, webhooks, rules; admin API){token}"
        )
    print(f"  {'admin':<10} {admin}", flush=True)
    with sock:  # uvicorn closes it too, once it has shut down
        serve(app, config, sock=sock)  # --workers N: N processes on this socket, each its own app
    return 0


def _check_state(config: MockConfig) -> None:
    """A state store that cannot be reached is a one-line error at start, not 503s later."""
    if config.state == "memory":
        return
    import asyncio

    from headshot_mock.mockserver import RedisStore, StoreUnavailable

    async def ping() -> None:
        store = RedisStore(config.state, prefix=config.state_prefix)
        try:
            await store.ping()
        finally:
            await store.close()

    try:
        asyncio.run(ping())
    except StoreUnavailable as exc:
        raise ConfigError(f"{exc}. Start Redis there, or fix --state (HEADSHOT_MOCK_STATE).") from None
    except ValueError as exc:  # redis-py refuses the URL itself
        raise ConfigError(f"--state {config.state!r} is not a Redis URL redis-py accepts: {exc}") from None


def _scenarios(provider: str | None) -> int:
    from headshot_mock.mockserver import scenario_books

    ids = (provider,) if provider else specs.providers()
    if provider:
        specs.load(provider)  # an unknown id raises, naming the valid ones
    for pid, book in scenario_books(ids).items():
        print(f"{pid}:")
        for name, summary in book.summaries.items():
            ops = book.operations_with(name)
            where = f"  [{', '.join(ops)}]" if ops and len(ops) < len(book.operations_with("success")) else ""
            print(f"  {name:<22} {summary}{where}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from headshot_mock.contracts.verify import VerifyError, verify

    if bool(args.provider) == bool(args.spec):
        print(f"{PROG} verify: error: give --provider ID (a bundled spec) or --spec FILE", file=sys.stderr)
        return 2
    try:
        report = verify(
            _own(args.spec) if args.spec else args.provider,
            args.base_url,
            api_key=args.api_key,
            max_requests=args.max_requests,
            max_examples=args.max_examples,
            allow_remote=args.allow_remote,
            dry_run=args.dry_run,
            seed=args.seed,
            junit_xml=args.junit_xml,
        )
    except VerifyError as exc:
        print(f"{PROG} verify: error: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    if args.junit_xml:
        print(f"JUnit report written to {args.junit_xml}")
    return report.exit_code


def _proxy(args: argparse.Namespace) -> int:
    from headshot_mock.contracts.proxy import create_proxy
    from headshot_mock.contracts.verify import VerifyError
    from headshot_mock.mockserver import serve

    if bool(args.provider) == bool(args.spec):
        print(f"{PROG} proxy: error: give --provider ID (a bundled spec) or --spec FILE", file=sys.stderr)
        return 2
    provider = _own(args.spec) if args.spec else args.provider
    specs.load(provider)  # an unknown id is named with the valid ones
    config = MockConfig(
        providers=(provider,) if provider in specs.providers() else (),
        specs=(args.spec,) if args.spec else (),
        level=args.level,
    )
    try:
        app = create_proxy(
            provider,
            args.upstream,
            config=config,
            max_requests=args.max_requests,
            allow_remote=args.allow_remote,
            errors=args.errors,
            record=args.record,
        )
    except VerifyError as exc:
        print(f"{PROG} proxy: error: {exc}", file=sys.stderr)
        return 2
    base = specs.load(provider).base_path
    sock = _listening_socket(args.host, args.port)
    print(
        f"{PROG} proxy on http://{args.host}:{args.port}{base} -> {app.state.stats.upstream} "
        f"(level {args.level}, budget {args.max_requests} requests"
        + (", errors answered here" if args.errors else "")
        + (f", recording to {args.record}" if args.record else "")
        + ")",
        flush=True,
    )
    with sock:
        serve(app, config, sock=sock)  # the timeouts and shutdown of `serve`
    print(app.state.stats.summary(), flush=True)
    return 0


def _drift(args: argparse.Namespace) -> int:
    from headshot_mock.contracts.drift import drift

    provider = _own(args.spec) if args.spec else args.provider
    report = drift(args.folder, provider)
    print(report.render())
    return report.exit_code


def _own(entry: str) -> str:
    """Load and register a user's spec file (``[ID=]FILE``); its id."""
    name, path = specs.parse_entry(entry)
    return specs.load_file(path, name).id


def _providers() -> int:
    from headshot_mock.mockserver import base_urls

    urls = base_urls(MockConfig())
    for pid in specs.providers():
        spec = specs.load(pid)
        print(f"{pid:<10} {spec.title:<12} real {spec.server_url:<28} mock {urls[pid]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
