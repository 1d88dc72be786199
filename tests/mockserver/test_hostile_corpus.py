"""The hostile corpus: requests kept as data in ``tests/fixtures/hostile/*.yaml``, each with the
class of answer it must get. One parametrized test runs them all, in-process.

A case::

    - id: modelslab-headShot-nan            # unique; the test id
      method: POST
      path: /modelslab/api/v6/image_editing/head_shot
      headers: {content-type: application/json}
      body: '{"key": NaN}'                  # raw text (UTF-8), or a list of parts (below), or {hex: ...}
      expect: 4xx-provider-envelope         # the answer class (below)
      levels: [strict, lenient]             # optional: run once per validation level (X-Mock-Validation)
      config: {admin_token: t0ken}          # optional: MockConfig options for this case
      absent: [AAAA...]                     # optional: text that must appear in no header and no body

Body parts are text or ``{repeat: TEXT, times: N}`` (a 5,000-digit number without 5,000 digits
in the file). Answer classes:

- ``2xx``: any success;
- ``4xx-provider-envelope``: 4xx in the provider's own error envelope (not problem+json);
- ``provider-refusal``: the provider's own refusal whatever its status (ModelsLab's fetch endpoints
  answer ``200 {"status": "error", ...}``): refused (``X-Mock-Scenario`` says so), not problem+json;
- ``problem+json NNN``: exactly status NNN, as ``application/problem+json`` with a detail;
- ``4xx-any``: any 4xx (files answer in their object store's XML).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from headshot_mock.mockserver import MockConfig, create_app
from tests.conftest import FIXTURES

PROBLEM = "application/problem+json"
REFUSALS = ("invalid_request", "unauthorized", "missing_key")
CORPUS = sorted((FIXTURES / "hostile").glob("*.yaml"))


def _cases() -> Iterator[Any]:
    seen: set[str] = set()
    for file in CORPUS:
        for case in yaml.safe_load(file.read_text()):
            assert case["id"] not in seen, f"duplicate id {case['id']} in {file.name}"
            seen.add(case["id"])
            for level in case.get("levels", [None]):
                name = case["id"] if level is None else f"{case['id']}-{level}"
                yield pytest.param(case, level, id=name)


def _body(spec: Any) -> bytes:
    if isinstance(spec, dict):
        return bytes.fromhex(spec["hex"])
    if isinstance(spec, list):
        return b"".join(
            _body(part["repeat"] * part["times"] if isinstance(part, dict) else part) for part in spec
        )
    return str(spec or "").encode("utf-8", "surrogatepass")


CASES = list(_cases())


@functools.cache
def _app(config: str) -> Any:
    return create_app(config=MockConfig(**json.loads(config)))


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 200, len(CASES)
    classes = {case.values[0]["expect"] for case in CASES}
    assert {"2xx", "4xx-provider-envelope", "problem+json 400"} <= classes


@pytest.mark.parametrize(("case", "level"), CASES)
async def test_hostile_case_gets_its_answer_class(case: dict[str, Any], level: str | None) -> None:
    app = _app(json.dumps(case.get("config", {}), sort_keys=True))
    await app.state.control.reset()  # one app per config, reset: cases never see each other's state
    headers = {k: str(v).encode("utf-8") for k, v in (case.get("headers") or {}).items()}
    if level is not None:
        headers["x-mock-validation"] = level.encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as client:
        response = await client.request(
            case["method"], case["path"], content=_body(case.get("body")), headers=headers
        )
        config = case.get("config", {})
        auth = {"authorization": f"Bearer {config['admin_token']}"} if "admin_token" in config else {}
        journal = await client.get("/__mock/journal", headers=auth) if config.get("admin", True) else None
    if journal is not None:  # nothing stored that cannot be served back: the journal answers, strict JSON
        assert journal.status_code == 200, journal.text[:300]
        json.loads(journal.content)
    status, media = response.status_code, response.headers.get("content-type", "")
    where = f"{case['method']} {case['path'][:80]} -> {status} {media} {response.text[:300]}"
    expect: str = case["expect"]
    assert status < 500, where
    if expect == "2xx":
        assert 200 <= status < 300, where
    elif expect == "4xx-any":
        assert 400 <= status < 500, where
    elif expect == "4xx-provider-envelope":
        assert 400 <= status < 500, where
        assert not media.startswith(PROBLEM), where
    elif expect == "provider-refusal":
        assert response.headers.get("x-mock-scenario") in REFUSALS, where
        assert not media.startswith(PROBLEM), where
    elif expect.startswith("problem+json "):
        assert status == int(expect.split()[1]), where
        assert media.startswith(PROBLEM), where
        assert response.json()["detail"], where
    else:
        pytest.fail(f"unknown answer class {expect!r} in case {case['id']}")
    for text in case.get("absent", []):
        assert text not in response.text, f"{case['id']}: echoed in the body"
        assert all(text not in value for value in response.headers.values()), (
            f"{case['id']}: echoed in a header"
        )
