"""``verify``: run schemathesis against any server with the bundled spec of one provider.

    >>> from headshot_mock.contracts.verify import verify
    >>> report = verify("modelslab", "http://127.0.0.1:4010/modelslab/api", max_requests=60, seed=7)
    >>> print(report.render())                       # per operation: requests, failures, skips
    >>> report.exit_code                             # 0 clean, 1 failures

What runs, per operation of the spec, in this order: the *positive* phase (schema-valid
requests, the API key added), the *negative* phase (schema-invalid requests the server must
refuse) and then the *stateful* phase (the spec's OpenAPI ``links``: a generation, then the
operation that fetches/gets/deletes what it made). Every response goes through the checks in
:data:`DEFAULT_CHECKS`; a failing check becomes a :class:`Failure` with the check's name, the
difference in one line and the request that triggered it.

Safety: every HTTP call goes through one counting session, so ``max_requests`` is a hard cap
(the run stops cleanly when it is reached and the report says so); a base URL off loopback is
refused unless ``allow_remote=True``; ``dry_run=True`` plans and sends nothing.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from headshot_mock import specs
from headshot_mock.contracts.report import Failure, OperationResult, Report, SentRequest
from headshot_mock.contracts.verify_settings import (
    DEFAULT_API_KEY,
    DEFAULT_CHECKS,
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_MAX_REQUESTS,
    OPTIONAL_CHECKS,
    PHASES,
    PhaseName,
    VerifyError,
)

if TYPE_CHECKING:
    import requests

INSTALL = "pip install 'headshot-mock[verify]'"
"""schemathesis (and hypothesis) come with this extra, so that their pytest plugins do not load
in every pytest run of every project that installs headshot-mock."""

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_CHECKS",
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_MAX_REQUESTS",
    "OPTIONAL_CHECKS",
    "PHASES",
    "Failure",
    "OperationResult",
    "PhaseName",
    "Report",
    "SentRequest",
    "VerifyError",
    "check_target",
    "is_loopback",
    "verify",
]


def verify(
    provider: str,
    base_url: str,
    *,
    api_key: str | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    phases: Sequence[PhaseName] = PHASES,
    checks: Sequence[str] = DEFAULT_CHECKS,
    allow_remote: bool = False,
    dry_run: bool = False,
    seed: int | None = None,
    junit_xml: str | Path | None = None,
    session: requests.Session | None = None,
) -> Report:
    """Check the server at ``base_url`` against the bundled spec of ``provider``.

    ``base_url`` replaces the spec's ``servers[0].url``. Operations on another host (an
    operation-level ``servers`` entry, such as a presigned upload) are reported as skipped.
    ``session`` is a ``requests.Session`` to send through (an adapter, a proxy); the budget
    is enforced on top of it. Raises :class:`VerifyError` on misuse; never raises for what the
    server answers.
    """
    spec = _spec(provider)
    _require_schemathesis()
    from headshot_mock.contracts._conformance import _checks, _Run

    base_url = check_target(base_url, allow_remote=allow_remote)
    if max_requests < 1:
        raise VerifyError(f"--max-requests must be at least 1, got {max_requests}.")
    if max_examples < 1:
        raise VerifyError(f"max_examples must be at least 1, got {max_examples}.")
    unknown_phases = [p for p in phases if p not in PHASES]
    if unknown_phases:
        raise VerifyError(f"Unknown phase {unknown_phases[0]!r}. Valid values: {', '.join(PHASES)}.")
    check_functions = _checks(checks)
    report = Report(
        provider=provider,
        base_url=base_url,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**32),
        max_requests=max_requests,
        max_examples=max_examples,
        phases=tuple(p for p in PHASES if p in phases),
        checks=tuple(checks),
        operations=[OperationResult(op.operation_id, op.method, op.path) for op in spec.operations],
        links=[(op.operation_id, target) for op in spec.operations for target in op.links.values()],
        credential=_credential_label(spec),
        dry_run=dry_run,
    )
    for op, result in zip(spec.operations, report.operations, strict=True):
        if op.server_url != spec.server_url:
            result.skipped = (
                f"lives on {op.server_url} (a signed URL the server hands out), not on the base URL"
            )
    if not dry_run:
        _Run(spec, report, api_key or DEFAULT_API_KEY, check_functions, session).execute()
    if junit_xml is not None:
        Path(junit_xml).write_text(report.junit_xml(), encoding="utf-8")
    return report


def check_target(base_url: str, *, allow_remote: bool) -> str:
    """``base_url`` without a trailing slash; :class:`VerifyError` when it is not an http(s) URL,
    or not on loopback (127.0.0.0/8, ::1, localhost) and ``allow_remote`` is false. No name is
    resolved: the decision is made on the URL alone, without any traffic."""
    parts = urlsplit(base_url)
    try:
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise VerifyError(f"Bad base URL {base_url!r}: {exc}.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise VerifyError(
            f"Bad base URL {base_url!r}: give an http(s) URL such as http://127.0.0.1:4010/modelslab/api."
        )
    if not allow_remote and not is_loopback(host):
        raise VerifyError(
            f"Refusing to send test traffic to {host}: it is not loopback and a real provider bills every "
            "call. Pass --allow-remote (allow_remote=True) to verify a remote server on purpose, "
            "with a small --max-requests."
        )
    return base_url.rstrip("/")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_schemathesis() -> None:
    try:
        import requests  # noqa: F401  (a schemathesis dependency)
        import schemathesis  # noqa: F401
    except ImportError as exc:
        raise VerifyError(
            f"verify runs schemathesis, which is not installed here ({exc.name} is missing). "
            f"Install it with: {INSTALL}"
        ) from None


def _spec(provider: str) -> specs.ProviderSpec:
    try:
        return specs.load(provider)
    except specs.UnknownProvider as exc:
        raise VerifyError(str(exc)) from None


def _credential_label(spec: specs.ProviderSpec) -> str:
    if spec.credential.location == "body":
        return f"body field `{spec.credential.name}`"
    if not spec.credential.name:
        return "none (the spec declares no security)"
    scheme = spec.resolve(
        ((spec.document.get("components") or {}).get("securitySchemes") or {})[spec.credential.name]
    )
    if scheme.get("type") == "apiKey":
        return f"{scheme.get('in', 'header')} `{scheme.get('name')}`"
    return "Authorization: Bearer"
