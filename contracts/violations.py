"""Contract violations: what a client sent that the documented contract does not allow.

:class:`ContractViolation` is an ``AssertionError``, so pytest shows it as a failed assertion,
with one paragraph per offending request: the operation, the field, what the spec expects versus
what was sent, and the public source the spec took that fact from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from headshot_mock import specs
from headshot_mock.contracts.errors import ContractViolation

__all__ = ["ContractViolation", "describe", "source_of"]


def source_of(provider: str, operation: str, field: str) -> str:
    """Where the spec took the rule for ``field`` of ``operation`` from (URLs of its x-source)."""
    spec = specs.load(provider)
    try:
        op = spec.operation(operation)
    except specs.UnknownOperation:
        return ""
    keys: list[str] = list(op.definition.get("x-source", ()))
    top = field.split(".", 1)[0].split("[", 1)[0]
    body = spec.resolve(op.definition.get("requestBody", {}))
    media = (body.get("content") or {}).get("application/json")
    if media is not None and top:
        schema = spec.resolve(media["schema"])
        prop = spec.resolve((schema.get("properties") or {}).get(top, {}))
        keys = list(prop.get("x-source", ())) or keys
    urls = [spec.sources.get(k, k) for k in keys]
    return ", ".join(dict.fromkeys(urls))


def describe(entries: Iterable[Mapping[str, Any]], *, level: str = "strict") -> list[str]:
    """One readable paragraph per journal entry that holds findings rejected at ``level``."""
    out = []
    for entry in entries:
        findings = [f for f in entry.get("findings", ()) if level == "strict" or f["level"] == "lenient"]
        if not findings:
            continue
        call = f"{entry['provider']}.{entry['operation']} ({entry['method']} {entry['path']})"
        lines = [f"{call} answered {entry['status']}:"]
        for f in findings:
            where = f"{f['location']}.{f['field']}" if f["field"] else f["location"]
            lines.append(f"  - {where}: {f['message']}")
            source = (
                source_of(entry["provider"], entry["operation"], f["field"])
                if f["location"] == "body"
                else ""
            )
            if source:
                lines.append(f"    documented at {source}")
        out.append("\n".join(lines))
    return out
