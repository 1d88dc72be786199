"""Where webhooks may go: parsing their URLs and the ``webhook_allow`` list.

An allow-list entry names a host **and** the ports it may be reached on::

    127.0.0.0/8          any port of a network          localhost        any port of a name
    127.0.0.1:5101       one port of an address          hooks.test:*     any port, said explicitly
    [::1]:5101           an IPv6 address and port        10.0.0.0/8:443   one port of a network

An entry that cannot be parsed is a :class:`ConfigError` at start (never an entry that silently
matches nothing). A URL is refused, with the reason, when it is not http(s), has no host, holds
control characters or white space, or names a port outside 1-65535.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from headshot_mock.mockserver.errors import ConfigError
from headshot_mock.mockserver.journal import redact_url

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL taken apart: scheme, lower-cased host (no brackets) and port."""

    url: str
    scheme: str
    host: str
    port: int


def parse_url(url: object) -> Target:
    """``url`` as a webhook target, or :class:`ConfigError` saying what is wrong with it."""
    if not isinstance(url, str) or not url:
        raise ConfigError(f"a webhook URL must be a non-empty string, got {_show(url)}")
    text = url

    def bad(why: str) -> ConfigError:  # what is wrong, without the secrets a URL may carry
        return ConfigError(f"webhook URL {_show(redact_url(text))} {why}")

    if _UNSAFE.search(url):
        raise bad("holds white space or control characters")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # "http://[::1", "http://h:99999"
        raise bad(f"cannot be parsed: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise bad("must be an http(s) URL with a host")
    if port == 0:
        raise bad("names port 0")
    return Target(url, parts.scheme, host.lower(), port or DEFAULT_PORTS[parts.scheme])


@dataclass(frozen=True, slots=True)
class _Entry:
    network: Network | None
    name: str | None
    port: int | None
    """None: any port."""

    def matches(self, target: Target, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        if self.port is not None and self.port != target.port:
            return False
        if self.network is not None:
            return address is not None and address.version == self.network.version and address in self.network
        return address is None and target.host == self.name


class AllowList:
    """The parsed ``webhook_allow`` entries; :meth:`refusal` says why a URL may not be sent to."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.entries = entries
        self._parsed = tuple(_entry(text) for text in entries)

    def refusal(self, url: str) -> str | None:
        """None when ``url`` may be sent to; else why not, and what to do about it."""
        try:
            target = parse_url(url)
        except ConfigError as exc:
            return str(exc)
        try:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(target.host)
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(entry.matches(target, address) for entry in self._parsed):
            return None
        shown = f"[{target.host}]" if ":" in target.host else target.host
        return (
            f"{target.host!r} port {target.port} is not in webhook_allow ({', '.join(self.entries)}); "
            f"add it with --webhook-allow {shown}:{target.port} (or {shown}:* for any port)"
        )


def _entry(text: str) -> _Entry:
    def bad(why: str) -> ConfigError:
        return ConfigError(
            f"webhook_allow entry {_show(text)} {why}; write an IP network (127.0.0.0/8), an address "
            "(127.0.0.1), a host name (localhost), each optionally with :PORT or :* ([::1]:5101, "
            "hooks.test:*)"
        )

    if not isinstance(text, str) or not text or _UNSAFE.search(text) or "://" in text:
        raise bad("is neither an IP network nor a host name (it cannot be parsed)")
    host, port = _split_port(text, bad)
    try:
        return _Entry(ipaddress.ip_network(host, strict=False), None, port)
    except ValueError:
        pass
    name = host.lower().rstrip(".")
    if not _NAME.match(name):
        raise bad("is neither an IP network nor a host name")
    return _Entry(None, name, port)


def _split_port(text: str, bad: object) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``host:*``, ``[v6]:port``; a bare IPv6 address has no port."""
    assert callable(bad)
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise bad("has an unclosed or misplaced [ ]")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None  # a name, an IPv4 network, or a bare IPv6 network/address
    if port_text is None or port_text == "*":
        return host, None
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text[:6]) < 65536):
        raise bad(f"has port {_show(port_text)}, not 1-65535 or *")
    return host, int(port_text)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:100]}…({len(text)} chars)"
