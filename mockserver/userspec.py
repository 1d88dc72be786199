"""Serving a user's own OpenAPI document: the plug-in every loaded spec file gets.

The engine's pipeline is the bundled providers' (validation, scenarios, journal, rules); what
this adds is what a document written for another tool needs:

- every response is a scenario: its named examples (an example name is a scenario), else one
  answer generated from its schema, named by its status (``success``, ``not_found``, …), so
  ``Prefer: code=404`` and ``X-Mock-Scenario: not_found`` work on any operation;
- an operation without a ``success`` example answers its first 2xx example (Prism's choice);
- answers without an example are generated (:mod:`mockserver.generate`): the same one per seed,
  or (``dynamic``) a new schema-valid one per request;
- what cannot be generated is listed at start (:attr:`SpecProvider.notes`), not found by a 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver.generate import Generator, Unsatisfiable
from headshot_mock.mockserver.providers.base import REJECTION_EXAMPLES, Answer, Call, Provider
from headshot_mock.mockserver.runtime import Runtime
from headshot_mock.mockserver.scenarios import BEHAVIOURS, VOCABULARY, Example, ScenarioBook
from headshot_mock.mockserver.validation import Finding
from headshot_mock.specs.normalise import status_scenario

__all__ = ["Generated", "SpecProvider", "SpecScenarioBook"]

_JSON_FIRST = ("application/json",)


@dataclass(frozen=True, slots=True)
class Generated(Example):
    """A response with a schema and no example: its body is generated."""

    schema: Any = field(default=None, repr=False)
    operation: str = ""
    response: str = ""
    """The response key it answers for (``200``, ``4XX``, ``default``)."""


def _status(code: str, has_2xx: bool) -> int:
    if code.isdigit():
        return int(code)
    if code.upper().endswith("XX") and code[0].isdigit():
        return int(code[0]) * 100
    return 500 if has_2xx else 200  # `default`: the error answer, or the only answer there is


def _media_order(content: Mapping[str, Any]) -> list[str]:
    return sorted(content, key=lambda m: (not m.startswith(_JSON_FIRST) and not m.endswith("+json"), m))


def operation_examples(spec: specs.ProviderSpec, op: specs.Operation) -> dict[str, Example]:
    responses = op.definition.get("responses") or {}
    has_2xx = any(str(c).startswith("2") for c in responses)
    found: dict[str, Example] = {}
    firsts: list[Example] = []
    ordered = sorted(responses.items(), key=lambda kv: _status(str(kv[0]), has_2xx))
    for code, response in ordered:
        status = _status(str(code), has_2xx)
        response = spec.resolve(response)
        headers = {
            name.lower(): str(spec.resolve(h).get("example", ""))
            for name, h in (response.get("headers") or {}).items()
            if "example" in spec.resolve(h)
        }
        content = response.get("content") or {}
        summary = str(response.get("description", ""))
        before = len(found)
        for media_type in _media_order(content):
            media = spec.resolve(content[media_type]) or {}
            for name, ex in (media.get("examples") or {}).items():
                ex = spec.resolve(ex)
                if "value" in ex:
                    found.setdefault(
                        name,
                        Example(name, status, media_type, ex["value"], ex.get("summary", summary), headers),
                    )
        name = status_scenario(status)
        if len(found) == before and name not in found:
            if content:
                media_type = _media_order(content)[0]
                schema = (spec.resolve(content[media_type]) or {}).get("schema", {})
                found[name] = Generated(
                    name,
                    status,
                    media_type,
                    None,
                    summary,
                    headers,
                    schema=schema,
                    operation=op.operation_id,
                    response=str(code),
                )
            else:
                found[name] = Example(name, status, None, None, summary, headers)
        if 200 <= status < 300 and len(found) > before:
            firsts.append(list(found.values())[before])
    if not responses:
        found["success"] = Example("success", 204, None, None, "no response is declared")
    elif "success" not in found and firsts:
        found["success"] = firsts[0]
    return found


class SpecScenarioBook(ScenarioBook):
    """A :class:`ScenarioBook` of a user's document: every declared response is reachable."""

    def __init__(self, spec: specs.ProviderSpec, lifecycles: Mapping[str, str]) -> None:
        self.provider = spec.id
        self._examples = {op.operation_id: operation_examples(spec, op) for op in spec.operations}
        # The default scenario, even with no operation; the rest say what the document says.
        summaries: dict[str, str] = {"success": "each operation's success example, else its first 2xx answer"}
        for examples in self._examples.values():
            for name, ex in examples.items():
                summaries.setdefault(name, ex.summary or VOCABULARY.get(name, ""))
        summaries.update(lifecycles)
        summaries.update(BEHAVIOURS)
        self.summaries = dict(sorted(summaries.items()))


class SpecProvider(Provider):
    """The plug-in of a user's document (see the module docstring)."""

    def __init__(self, spec: specs.ProviderSpec, runtime: Runtime) -> None:
        super().__init__(spec, runtime)
        self.generator = Generator(spec.resolve, hidden="writeOnly")
        self._validators: dict[tuple[str, str], Any] = {}
        self._static: dict[tuple[str, str], Any] = {}
        self.notes: list[str] = list(getattr(spec, "notes", ()))
        for op in spec.operations:
            for ex in self.scenarios.examples(op.operation_id).values():
                if isinstance(ex, Generated) and (op.operation_id, ex.name) not in self._static:
                    try:
                        self._static[(op.operation_id, ex.name)] = self.generate(ex, dynamic=False)
                    except Unsatisfiable as exc:
                        self.notes.append(
                            f"{op.method} {op.path} {ex.status}: cannot generate an answer ({exc}); "
                            "it answers 501"
                        )
            self.notes.extend(self._example_notes(op))

    def _example_notes(self, op: specs.Operation) -> list[str]:
        """Named examples that break their own schema: served as written, and said at start."""
        notes = []
        for code, response in (op.definition.get("responses") or {}).items():
            for content in (self.spec.resolve(response).get("content") or {}).values():
                media = self.spec.resolve(content) or {}
                if "schema" not in media or not media.get("examples"):
                    continue
                validator = self._compile(media["schema"])
                for name, ex in media["examples"].items():
                    value = self.spec.resolve(ex).get("value")
                    error = (
                        next(iter(validator.iter_errors(value)), None)
                        if "value" in self.spec.resolve(ex)
                        else None
                    )
                    if error is not None:
                        where = "/" + "/".join(map(str, error.instance_path))
                        notes.append(
                            f"{op.method} {op.path} {code}: example {name} breaks its schema at {where} "
                            f"({error.message}); it is served as written"
                        )
        return notes

    @classmethod
    def book(cls, spec: specs.ProviderSpec) -> ScenarioBook:
        return SpecScenarioBook(spec, cls.lifecycles)

    # generation ---------------------------------------------------------------------------------
    def validator(self, ex: Generated) -> Any:
        key = (ex.operation, ex.name)
        if key not in self._validators:
            self._validators[key] = self._compile(ex.schema)
        return self._validators[key]

    def _compile(self, schema: Any) -> Any:
        # A user's spec views the schema as an answer must satisfy it (writeOnly not required).
        if isinstance(self.spec, specs.UserSpec):
            return self.spec.validator(schema, "response")
        return self.spec.validator(schema)

    def generate(self, ex: Generated, *, dynamic: bool, counter: int = 0) -> Any:
        seed = self.runtime.config.seed
        value = self.generator.generate(
            ex.schema, self.validator(ex), seed, ex.operation, ex.name, counter, dynamic=dynamic
        )
        if isinstance(value, str) and ex.media_type and _binary(ex.media_type):
            return value.encode()
        return value

    def body_of(self, ex: Example, counter: int | None = None) -> Any:
        if not isinstance(ex, Generated):
            return ex.body()
        dynamic = bool(getattr(self.runtime.config, "dynamic", False)) and counter is not None
        if dynamic:
            return self.generate(ex, dynamic=True, counter=counter or 0)
        if (ex.operation, ex.name) not in self._static:
            raise Unsatisfiable("no static answer")
        value = self._static[(ex.operation, ex.name)]
        return value if isinstance(value, bytes) else _copy(value)

    # answers ------------------------------------------------------------------------------------
    async def answer(self, call: Call) -> Answer:
        counter = None
        if getattr(self.runtime.config, "dynamic", False):
            counter = await self.runtime.number(self.id, "generated")
        return self._answer(call, call.example, counter)

    def example_answer(
        self, call: Call, name: str | None = None, *, fill: Mapping[str, Any] | None = None
    ) -> Answer:
        example = call.examples.get(name) if name else call.example
        answer = self._answer(call, example, None)
        if fill is not None:
            answer.body.update(fill)
        return answer

    def _answer(self, call: Call, example: Example | None, counter: int | None) -> Answer:
        if example is None:
            return Answer(501, {"message": f"{call.operation_id} has no answer for {call.scenario!r}"})
        try:
            body = self.body_of(example, counter)
        except Unsatisfiable as exc:
            detail = f"{call.operation_id} {example.status}: the mock cannot generate this answer ({exc})"
            return Answer(501, {"message": detail}, scenario=example.name)
        headers = {**dict(example.headers), **self._headers(call.operation_id, example)}
        return Answer(example.status, body, example.media_type, headers, example.name)

    def _headers(self, operation_id: str, example: Example) -> dict[str, str]:
        """Values for the response headers the spec declares with a schema and no example."""
        op = self.spec.operation(operation_id)
        out: dict[str, str] = {}
        for code, response in (op.definition.get("responses") or {}).items():
            if str(code) != str(example.status) and not (
                str(code) == "default"
                or (str(code)[0] == str(example.status)[0] and "X" in str(code).upper())
            ):
                continue
            for name, header in (self.spec.resolve(response).get("headers") or {}).items():
                header = self.spec.resolve(header)
                if (
                    name.lower() in example.headers
                    or name.lower() == "content-type"
                    or "schema" not in header
                ):
                    continue
                validator = self.spec.validator(header["schema"])
                try:
                    value = self.generator.generate(
                        header["schema"], validator, self.runtime.config.seed, name
                    )
                except Unsatisfiable:
                    continue
                out[name.lower()] = str(value).lower() if isinstance(value, bool) else str(value)
            break
        return out

    def reject(self, call: Call, findings: list[Finding]) -> Answer:
        message = "; ".join(str(f) for f in findings)
        named = [call.examples[n] for n in REJECTION_EXAMPLES if n in call.examples]
        fallback = sorted(
            (ex for ex in call.examples.values() if 400 <= ex.status < 500 and ex.status != 401),
            key=lambda ex: (ex.status not in (400, 422), ex.status),
        )
        if any(f.location == "security" for f in findings) and "unauthorized" in call.examples:
            named = [call.examples["unauthorized"]]
        chosen = (named or fallback)[:1]
        default = next(
            (ex for ex in call.examples.values() if isinstance(ex, Generated) and ex.response == "default"),
            None,
        )
        if not chosen and default is not None:
            # No 4xx is declared: the `default` response's body, with a 400.
            answer = self._answer(call, default, None)
            answer.status, answer.scenario = 401 if _security(findings) else 400, "invalid_request"
            answer.body = self.with_message(answer.body, message)
            return answer
        if not chosen:
            status = 401 if any(f.location == "security" for f in findings) else 400
            return Answer(status, {"message": message}, scenario="invalid_request")
        answer = self._answer(call, chosen[0], None)
        answer.scenario = "invalid_request"
        answer.body = self.with_message(answer.body, message)
        return answer


def _security(findings: list[Finding]) -> bool:
    return any(f.location == "security" for f in findings)


def _binary(media_type: str) -> bool:
    media = media_type.split(";", 1)[0].strip().lower()
    return media.startswith(("image/", "audio/", "video/")) or media in (
        "application/octet-stream",
        "application/pdf",
    )


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))
