"""What ``verify`` found: per operation, the requests sent and the failures, as text or JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from headshot_mock import specs
from headshot_mock.contracts.verify_settings import PhaseName

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class SentRequest:
    """What triggered a failure: enough to reproduce it (the API key is redacted)."""

    method: str
    url: str
    body: str | None
    status: int | None

    def __str__(self) -> str:
        body = f" {self.body}" if self.body else ""
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.method} {self.url}{body}{status}"


@dataclass(frozen=True, slots=True)
class Failure:
    check: str
    """The schemathesis check (``response_schema_conformance``) or ``transport`` / ``error``."""
    difference: str
    """One line: ``response body: 'id' is a required property``, ``status 418 not documented``."""
    phase: str
    request: SentRequest | None
    detail: str = ""
    """The check's full message."""
    occurrences: int = 1


@dataclass(slots=True)
class OperationResult:
    operation_id: str
    method: str
    path: str
    requests: int = 0
    phases: dict[str, int] = field(default_factory=dict)
    """Requests per phase."""
    failures: list[Failure] = field(default_factory=list)
    skipped: str | None = None
    """Why the operation was not tested at all (another host; the budget ran out first)."""

    @property
    def status(self) -> Literal["passed", "failed", "skipped", "error"]:
        """``error``: never reached (no request, no reason to skip it), so nothing was checked."""
        if self.failures:
            return "failed"
        if self.requests == 0:
            return "skipped" if self.skipped is not None else "error"
        return "passed"

    def _record(self, failure: Failure) -> None:
        for i, known in enumerate(self.failures):
            if (known.check, known.difference) == (failure.check, failure.difference):
                self.failures[i] = _replace(known, occurrences=known.occurrences + 1)
                return
        self.failures.append(failure)


@dataclass(slots=True)
class Report:
    provider: str
    base_url: str
    seed: int
    max_requests: int
    max_examples: int
    phases: tuple[PhaseName, ...]
    checks: tuple[str, ...]
    operations: list[OperationResult]
    links: list[tuple[str, str]]
    """(source operationId, target operationId) pairs the stateful phase can follow."""
    credential: str
    """Where the key travels, for the plan (``body field `key```, ``Authorization: Bearer``)."""
    dry_run: bool = False
    requests_sent: int = 0
    budget_exhausted: bool = False
    aborted: str | None = None
    """Why the run stopped before the end other than the budget (server unreachable)."""

    @property
    def failures(self) -> list[tuple[OperationResult, Failure]]:
        return [(op, f) for op in self.operations for f in op.failures]

    @property
    def unchecked(self) -> list[OperationResult]:
        """Operations a real run never reached (the server stopped answering first)."""
        return [] if self.dry_run else [op for op in self.operations if op.status == "error"]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unchecked

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def operation(self, operation_id: str) -> OperationResult:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)

    def render(self) -> str:
        """The human report the CLI prints."""
        lines = [
            f"{'DRY RUN: would verify' if self.dry_run else 'verify'} {self.provider} against "
            f"{self.base_url}",
            f"  phases {', '.join(self.phases)}; up to {self.max_examples} examples per operation and "
            f"phase; budget {self.max_requests} requests; seed {self.seed}; key in {self.credential}",
            f"  checks {', '.join(self.checks)}",
        ]
        if self.links and "stateful" in self.phases:
            lines.append("  links " + ", ".join(f"{a} -> {b}" for a, b in self.links))
        width = max((len(op.operation_id) for op in self.operations), default=0)
        for op in self.operations:
            where = f"{op.method} {op.path}"
            if self.dry_run:
                mark = "SKIP" if op.skipped else "PLAN"
                tail = f"skipped: {op.skipped}" if op.skipped else ""
            else:
                mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "error": "ERROR"}[op.status]
                per_phase = ", ".join(f"{k} {v}" for k, v in op.phases.items() if v)
                tail = f"{op.requests} requests" + (f" ({per_phase})" if per_phase else "")
                if op.status == "error":
                    tail += "; never reached, nothing was checked"
                if op.skipped:
                    tail += f"; {op.skipped}"
            lines.append(f"  {mark}  {op.operation_id:<{width}}  {where}  {tail}".rstrip())
            for failure in op.failures:
                times = f" (x{failure.occurrences})" if failure.occurrences > 1 else ""
                lines.append(f"        {failure.check} [{failure.phase}]: {failure.difference}{times}")
                if failure.request is not None:
                    lines.append(f"          request: {failure.request}")
        if self.dry_run:
            lines.append("Nothing was sent (--dry-run).")
            return "\n".join(lines)
        budget = f"{self.requests_sent} of {self.max_requests} requests sent"
        if self.budget_exhausted:
            budget += "; the budget was reached and the run stopped there (raise --max-requests to go on)"
        lines.append(f"Budget: {budget}.")
        if self.aborted:
            lines.append(f"Stopped: {self.aborted}")
        failed = [op for op in self.operations if op.failures]
        results = []
        if failed:
            count = sum(len(op.failures) for op in failed)
            results.append(f"{count} failure(s) in {len(failed)} operation(s)")
        if self.unchecked:
            names = ", ".join(op.operation_id for op in self.unchecked)
            results.append(f"{len(self.unchecked)} operation(s) never reached ({names})")
        lines.append(f"Result: {'; '.join(results)}." if results else "Result: no failures.")
        return "\n".join(lines)

    def junit_xml(self) -> str:
        """A JUnit report: one ``testcase`` per operation."""
        suite = ET.Element(
            "testsuite",
            name=f"headshot-mock verify {self.provider}",
            tests=str(len(self.operations)),
            failures=str(sum(1 for op in self.operations if op.failures)),
            skipped=str(sum(1 for op in self.operations if op.status == "skipped")),
            errors=str(len(self.unchecked)),
        )
        suite.set("hostname", self.base_url)
        for op in self.operations:
            case = ET.SubElement(suite, "testcase", classname=f"verify.{self.provider}", name=op.operation_id)
            case.set("file", f"{op.method} {op.path}")
            if op.failures:
                first = op.failures[0]
                node = ET.SubElement(case, "failure", message=f"{first.check}: {first.difference}")
                node.set("type", first.check)
                node.text = "\n".join(
                    f"{f.check} [{f.phase}]: {f.difference}"
                    + (f"\n  request: {f.request}" if f.request else "")
                    for f in op.failures
                )
            elif op.status == "skipped":
                ET.SubElement(case, "skipped", message=op.skipped or "skipped")
            elif op in self.unchecked:
                ET.SubElement(case, "error", message="never reached: no request was sent to it")
            out = ET.SubElement(case, "system-out")
            out.text = f"{op.requests} requests"
        for node in suite.iter():
            node.text = _xml_text(node.text)
            for name, value in node.attrib.items():
                node.set(name, _xml_text(value) or "")
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str | None) -> str | None:
    """Generated bodies hold control characters XML 1.0 cannot carry: escape them visibly."""
    if text is None:
        return None
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _replace(failure: Failure, **changes: Any) -> Failure:
    import dataclasses

    return dataclasses.replace(failure, **changes)


# how a failure is worded ------------------------------------------------------------------------


def closest_error(spec: specs.ProviderSpec, schema: Any, body: Any) -> str | None:
    schema = spec.resolve(schema)
    branches = [spec.resolve(b) for b in (schema.get("oneOf") or schema.get("anyOf") or ())]
    if branches:
        scored = sorted(
            ((len(list(spec.validator(b).iter_errors(body))), i, b) for i, b in enumerate(branches)),
            key=lambda item: (item[0], item[1]),
        )
        if scored[0][0] > 0:
            return closest_error(spec, scored[0][2], body)
    errors = list(spec.validator(schema).iter_errors(body))
    if not errors:
        return None
    error = errors[0]
    path = "/".join(str(p) for p in error.instance_path)
    return f"response body{f' at /{path}' if path else ''}: {error.message}"


def describe_failure(check: str, failure: Any, response: Any) -> str:
    """The failure in one line, in terms of the spec."""
    status = getattr(response, "status_code", None)
    if check == "status_code_conformance":
        documented = ", ".join(str(s) for s in getattr(failure, "defined_status_codes", ()))
        return f"status {status} not documented (documented: {documented})"
    if check in ("response_schema_conformance", "response_headers_conformance") and hasattr(
        failure, "validation_message"
    ):
        where = "response body" if check == "response_schema_conformance" else "response header"
        path = "/".join(str(p) for p in getattr(failure, "instance_path", ()) or ())
        at = f" at /{path}" if path else ""
        return f"{where}{at}: {failure.validation_message}"
    if check == "not_a_server_error":
        return f"server error: status {status}"
    if check == "negative_data_rejection":
        return f"schema-invalid request accepted with status {status}"
    if check == "positive_data_acceptance":
        return f"schema-valid request rejected with status {status}"
    message = str(failure.message).strip().splitlines()
    return f"{failure.title}: {message[0]}" if message else str(failure.title)
