"""``headshot-mock drift DIR``: how answers recorded by ``proxy --record`` differ from the spec.

    >>> report = drift("recordings/")            # the provider each recording names
    >>> print(report.render()); report.exit_code  # 0: no drift, 1: differences

Per recorded exchange: a status the operation does not declare; a body that breaks the
response schema (each error with its JSON path); fields the schema does not document; fields
the spec's own example of that status has at its top level and the real answer lacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headshot_mock import specs

__all__ = ["Difference", "DriftReport", "drift"]


@dataclass(frozen=True, slots=True)
class Difference:
    file: str
    operation: str
    status: int
    kind: str
    """``undeclared-status``, ``schema``, ``undocumented-field``, ``missing-field`` or ``unreadable``."""
    where: str
    detail: str

    def __str__(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"{self.operation} {self.status} [{self.kind}]{at}: {self.detail}  ({self.file})"


@dataclass
class DriftReport:
    folder: str
    recordings: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.differences else 0

    def render(self) -> str:
        lines = [f"drift of {self.recordings} recorded answer(s) in {self.folder} from the spec"]
        by_op: dict[str, list[Difference]] = {}
        for d in self.differences:
            by_op.setdefault(d.operation, []).append(d)
        for op, found in sorted(by_op.items()):
            lines.append(f"  {op}: {len(found)} difference(s)")
            lines.extend(f"    {d}" for d in found)
        lines.append(
            "  no drift: every recorded answer matches the spec" if not self.differences else
            f"Result: {len(self.differences)} difference(s) in {len(by_op)} operation(s)."
        )  # fmt: skip
        return "\n".join(lines)


def drift(folder: str | Path, provider: str | None = None) -> DriftReport:
    """Compare every recording in ``folder`` with the spec (``provider``, else each file's own)."""
    root = Path(folder)
    if not root.is_dir():
        raise specs.SpecError(
            f"{root}: no such folder of recordings (made by `headshot-mock proxy --record`)"
        )
    report = DriftReport(str(root))
    for path in sorted(root.glob("*.json")):
        report.recordings += 1
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            spec = specs.load(provider or record["provider"])
            op = spec.operation(record["operation"])
        except (ValueError, KeyError, specs.SpecError) as exc:
            report.differences.append(Difference(path.name, "?", 0, "unreadable", "", str(exc)))
            continue
        report.differences.extend(_compare(spec, op, record, path.name))
    return report


def _compare(
    spec: specs.ProviderSpec, op: specs.Operation, record: dict[str, Any], name: str
) -> Iterator[Difference]:
    status = int(record["status"])
    value = record["example"]["value"]

    def diff(kind: str, where: str, detail: str) -> Difference:
        return Difference(name, op.operation_id, status, kind, where, detail)

    responses = op.definition.get("responses") or {}
    key = next(
        (k for k in (str(status), f"{str(status)[0]}XX", f"{str(status)[0]}xx", "default") if k in responses),
        None,
    )
    if key is None:
        yield diff(
            "undeclared-status", "", f"the spec declares {', '.join(map(str, responses))}, not {status}"
        )
        return
    response = spec.resolve(responses[key])
    content = response.get("content") or {}
    media = record.get("media_type") or ""
    declared = content.get(media) or next((c for m, c in content.items() if m.split(";")[0] == media), None)
    if declared is None:
        if content:
            yield diff(
                "schema", "", f"answered {media or 'no content type'}; the spec declares {', '.join(content)}"
            )
        return
    declared = spec.resolve(declared)
    schema = declared.get("schema")
    if schema is not None:
        validator = (
            spec.validator(schema, "response") if isinstance(spec, specs.UserSpec) else spec.validator(schema)
        )
        for error in validator.iter_errors(value):
            yield diff("schema", "/" + "/".join(map(str, error.instance_path)), error.message)
        for where in _undocumented(spec, schema, value, ""):
            yield diff("undocumented-field", where, "the schema does not document this field")
    for ex_name, ex in (declared.get("examples") or {}).items():
        expected = spec.resolve(ex).get("value")
        for where in _missing(expected, value, ""):
            yield diff(
                "missing-field", where, f"the spec's example {ex_name!r} has it; the real answer does not"
            )
        break  # the first example stands for the status


def _properties(spec: specs.ProviderSpec, schema: Any, depth: int = 0) -> tuple[dict[str, Any], bool]:
    """The documented properties of an object schema (through $ref and allOf/anyOf/oneOf), and
    whether it documents any at all."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or depth > 16:
        return {}, False
    props: dict[str, Any] = dict(schema.get("properties") or {})
    known = "properties" in schema
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key) or ():
            more, found = _properties(spec, part, depth + 1)
            props.update({k: v for k, v in more.items() if k not in props})
            known = known or found
    return props, known and not schema.get("patternProperties") and not isinstance(
        schema.get("additionalProperties"), dict
    )


def _undocumented(spec: specs.ProviderSpec, schema: Any, value: Any, at: str) -> Iterator[str]:
    if isinstance(value, dict):
        props, documented = _properties(spec, schema)
        for key, item in value.items():
            if documented and key not in props:
                yield f"{at}/{key}"
            elif key in props:
                yield from _undocumented(spec, props[key], item, f"{at}/{key}")
    elif isinstance(value, list):
        items = spec.resolve(schema).get("items") if isinstance(spec.resolve(schema), dict) else None
        if items is not None:
            for i, item in enumerate(value[:20]):
                yield from _undocumented(spec, items, item, f"{at}/{i}")


def _missing(expected: Any, actual: Any, at: str) -> Iterator[str]:
    """Top-level fields of the example the answer lacks (deeper ones vary with the request)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key not in actual:
                yield f"{at}/{key}"
