"""Two validation levels, findings always reported, rejections in the provider's envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import yaml
from hypothesis import strategies as st

from headshot_mock import specs
from headshot_mock.contracts.exchange import check_request
from headshot_mock.mockserver import MockConfig, create_app
from headshot_mock.mockserver.validation import RequestValidator
from tests.conftest import FIXTURES, PROVIDERS

HEAD_SHOT = "/modelslab/api/v6/image_editing/head_shot"
SDK_LIKE = {
    "key": "k",
    "prompt": "p",
    "face_image": "https://x/f.jpg",
    "num_inference_steps": 20,
    "guidance_scale": 7.5,
}


async def test_lenient_serves_and_reports(client: httpx.AsyncClient) -> None:
    response = await client.post(HEAD_SHOT, json=SDK_LIKE)
    assert response.status_code == 200
    assert response.headers["x-mock-validation"].startswith("lenient; violations=")
    assert "body.num_inference_steps" in response.headers["x-mock-violations"]
    entry = (await client.get("/__mock/journal")).json()["entries"][-1]
    assert {f["field"] for f in entry["findings"]} >= {"num_inference_steps", "guidance_scale"}
    assert all(f["level"] == "strict" for f in entry["findings"])


async def test_strict_per_request_refuses_in_the_providers_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post(HEAD_SHOT, json=SDK_LIKE, headers={"x-mock-validation": "strict"})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert "num_inference_steps" in body["message"]


async def test_strict_server_level() -> None:
    app = create_app(config=MockConfig(level="strict"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        assert (await c.post(HEAD_SHOT, json=SDK_LIKE)).status_code == 400
        relaxed = await c.post(HEAD_SHOT, json=SDK_LIKE, headers={"x-mock-validation": "lenient"})
        assert relaxed.status_code == 200


async def test_unknown_level_header_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(HEAD_SHOT, json=SDK_LIKE, headers={"x-mock-validation": "loose"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "envelope_key"),
    [
        pytest.param(HEAD_SHOT, {"key": "k", "width": "wide"}, {}, 400, "message", id="modelslab"),
        pytest.param(
            "/agentai/v1/action/instant_headshot_run_headshot_generation",
            {"photos_json": "[]", "count": 9},
            {"authorization": "Bearer k"},
            400,
            "error",
            id="agentai",
        ),
        pytest.param(
            "/idphoto/api/generate-portrait",
            {"apiKey": "k", "sampleNumber": 99},
            {},
            400,
            "error",
            id="idphoto",
        ),
        pytest.param(
            "/magichour/v1/ai-headshot-generator",
            {"assets": {}},
            {"authorization": "Bearer k"},
            400,
            "message",
            id="magichour",
        ),
    ],
)
async def test_rejections_name_the_field(
    client: httpx.AsyncClient, path: str, body: Any, headers: dict[str, str], status: int, envelope_key: str
) -> None:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == status
    message = response.json()[envelope_key]
    assert isinstance(message, str)
    assert "body" in message


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        pytest.param(b"{not json", "application/json", id="malformed"),
        pytest.param(b"", "application/json", id="empty"),
        pytest.param(b"[1, 2, 3]", "application/json", id="array"),
        pytest.param(b'"text"', "application/json", id="string"),
        pytest.param(b"\xff\xfe\x00", "application/json", id="binary"),
        pytest.param(b"[" * 5000, "application/json", id="deep-nesting"),
        pytest.param(b'{"key": "k"}', "text/plain", id="wrong-content-type"),
    ],
)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_hostile_bodies_never_get_a_500(
    client: httpx.AsyncClient, provider: str, raw: bytes, content_type: str
) -> None:
    spec = specs.load(provider)
    for op in spec.operations:
        path = f"/{provider}{op.base_path}{op.path}".replace("{id}", "1")
        response = await client.request(
            op.method,
            path.replace("{asset_id}", "a").replace("{filename}", "f.png"),
            content=raw,
            headers={"content-type": content_type, "authorization": "Bearer k"},
        )
        assert response.status_code < 500, (op.operation_id, response.text)
        assert "Traceback" not in response.text


async def test_missing_key_gets_the_providers_auth_error(client: httpx.AsyncClient) -> None:
    agentai = await client.post("/agentai/v1/action/instant_headshot_run_headshot_generation", json={})
    assert (agentai.status_code, "error" in agentai.json()) == (401, True)
    magichour = await client.get("/magichour/v1/image-projects/x")
    assert (magichour.status_code, magichour.json()) == (401, {"message": "Unauthorized"})
    modelslab = await client.post(HEAD_SHOT, json={"prompt": "p"})
    assert modelslab.status_code == 401


def _corpus() -> Iterator[Any]:
    """Published bodies plus mutations of them: the reference and the fast path must agree."""
    for provider in PROVIDERS:
        for item in yaml.safe_load((FIXTURES / "public_examples" / f"{provider}.yaml").read_text()):
            body = item["body"]
            yield pytest.param(provider, item["operation"], body, id=f"{provider}-{item['name']}")
            if isinstance(body, dict):
                for key in list(body)[:4]:
                    broken = {k: v for k, v in body.items() if k != key}
                    yield pytest.param(
                        provider, item["operation"], broken, id=f"{provider}-{item['name']}-without-{key}"
                    )
                    wrong = {**body, key: [1, {"x": None}]}
                    yield pytest.param(
                        provider, item["operation"], wrong, id=f"{provider}-{item['name']}-{key}-as-list"
                    )


@pytest.mark.parametrize(("provider", "operation", "body"), list(_corpus()))
def test_compiled_validation_agrees_with_openapi_core(provider: str, operation: str, body: Any) -> None:
    spec = specs.load(provider)
    op = spec.operation(operation)
    ours = [f for f in RequestValidator(spec, op).check_body(body) if f.location == "body"]
    path = f"{op.base_path}{op.path}".replace("{id}", "1")
    headers = {"authorization": "Bearer k"} if spec.credential.location == "header" else {}
    request = httpx.Request(op.method, f"http://mock{path}", json=body, headers=headers)
    reference = check_request(provider, request)
    assert bool(ours) == bool(reference), (ours, reference)


def test_findings_with_control_characters_survive_a_real_http_server(live: Any) -> None:
    """Violation headers are escaped to printable ASCII: a real server must not choke on them."""
    body = {"key": "k", "prompt": "p", "face_image": "x", "\x00\u0e01\x7f": 1, "width": "\x01"}
    response = httpx.post(f"{live.url}{HEAD_SHOT}", json=body)
    assert response.status_code < 500
    assert "\\x00" in response.headers["x-mock-violations"]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"prefer": "code=²"}, id="prefer-unicode-digit"),
        pytest.param({"prefer": "code=99999999999999999999"}, id="prefer-huge-code"),
        pytest.param({"prefer": "example="}, id="prefer-empty-example"),
        pytest.param({"prefer": ",,;=;"}, id="prefer-garbage"),
        pytest.param({"x-mock-scenario": "\u202e\x7f"}, id="scenario-control-characters"),
        pytest.param({"x-mock-validation": ""}, id="empty-level"),
        pytest.param({"authorization": "Bearer"}, id="bearer-without-token"),
        pytest.param({"authorization": "Basic Zm9vOmJhcg=="}, id="other-auth-scheme"),
        pytest.param({"content-length": "99999999999"}, id="lying-content-length"),
    ],
)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_hostile_headers_never_get_a_500(
    client: httpx.AsyncClient, provider: str, headers: dict[str, str]
) -> None:
    spec = specs.load(provider)
    op = spec.operations[0]
    path = f"/{provider}{op.base_path}{op.path}".replace("{id}", "1")
    path = path.replace("{asset_id}", "a").replace("{filename}", "f.png")
    raw: dict[bytes, bytes] = {
        b"content-type": b"application/json",
        **{k.encode(): v.encode() for k, v in headers.items()},
    }  # UTF-8 on the wire
    response = await client.request(op.method, path, content=b"{}", headers=raw)
    assert response.status_code < 500, response.text


# ---- anyOf / oneOf messages name the broken limit ---------------------------------------------


FLUX = "/modelslab/api/v6/image_editing/flux_headshot"
FLUX_BODY = {"key": "k", "prompt": "p", "face_image": "https://example.com/f.jpg"}


@pytest.mark.parametrize(
    ("width", "message"),
    [
        pytest.param(5000, "body.width: 5000 is greater than the maximum of 1024", id="above-the-cap"),
        pytest.param([1], 'body.width: [1] is not of type "integer" or "string"', id="no-branch-type"),
        pytest.param("wide", 'body.width: "wide" does not match', id="string-branch"),
    ],
)
async def test_any_of_messages_name_the_broken_limit(
    client: httpx.AsyncClient, width: Any, message: str
) -> None:
    answer = await client.post(FLUX, json={**FLUX_BODY, "width": width})
    assert answer.status_code == 400
    text = answer.json()["message"]
    assert text.startswith(message), text
    assert "any of the schemas" not in text


@hypothesis.settings(max_examples=30, derandomize=True, deadline=None)
@hypothesis.given(width=st.integers(min_value=1025, max_value=10**9))
def test_any_of_above_the_maximum_always_names_it(width: int) -> None:
    spec = specs.load("modelslab")
    validator = RequestValidator(spec, spec.operation("fluxHeadshot"))
    findings = validator.check_body({**FLUX_BODY, "width": width})
    assert [str(f) for f in findings if f.field == "width"] == [
        f"body.width: {width} is greater than the maximum of 1024"
    ]


@pytest.mark.parametrize(
    ("sizes", "refused"),
    [
        pytest.param({"width": 5000, "height": 0}, {"width", "height"}, id="both"),
        pytest.param({"width": "4097"}, {"width"}, id="width-as-text"),
        pytest.param({"height": -3}, {"height"}, id="height"),
        pytest.param({"width": 4096, "height": "1"}, set(), id="at-the-limits"),
    ],
)
async def test_sizes_no_image_can_have_are_refused_naming_each(
    client: httpx.AsyncClient, sizes: dict[str, Any], refused: set[str]
) -> None:
    """Enterprise head_shot's schema takes any integer; the plug-in refuses the sizes it cannot
    make (1..4096), each by name, in ModelsLab's envelope."""
    body = {**SDK_LIKE, "init_image": "https://x/i.jpg", **sizes}
    response = await client.post("/modelslab/api/v1/enterprise/image_editing/head_shot", json=body)
    if not refused:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    for name in refused:
        assert f"{name}: " in message, message
    assert "is outside 1..4096" in message
    for name in {"width", "height"} - refused:
        assert f"{name}: " not in message, message
