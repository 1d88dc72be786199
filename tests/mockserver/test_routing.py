"""Provider routes: exact paths are found by a dict lookup before Starlette's regex scan; what
that lookup does not answer (templated paths, wrong methods, unknown paths) behaves as before."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from headshot_mock import create_app

FLUX = "/v6/image_editing/flux_headshot"
BODY = {"key": "k", "prompt": "p", "face_image": "https://example.com/f.jpg", "width": 64, "height": 64}


def client(app: object, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://mock.test")


@pytest.mark.parametrize(
    ("options", "prefix"),
    [
        pytest.param({}, "/modelslab/api", id="mounted"),
        pytest.param({"providers": ("modelslab",), "root_provider": "modelslab"}, "/api", id="root"),
    ],
)
async def test_exact_and_templated_paths_answer(options: dict[str, Any], prefix: str) -> None:
    async with client(create_app(**options)) as http:
        made = await http.post(f"{prefix}{FLUX}", json=BODY, headers={"x-mock-scenario": "processing"})
        assert made.status_code == 200, made.text
        assert made.json()["status"] == "processing"
        fetched = await http.post(f"{prefix}/v6/image_editing/fetch/{made.json()['id']}", json={"key": "k"})
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["status"] in ("processing", "success")


async def test_a_wrong_method_on_an_exact_path_is_a_405_problem() -> None:
    async with client(create_app()) as http:
        response = await http.get(f"/modelslab/api{FLUX}")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_unknown_path_near_an_exact_one_is_a_404_with_a_hint() -> None:
    async with client(create_app()) as http:
        response = await http.post(f"/modelslab/api{FLUX}x", json=BODY)
    assert response.status_code == 404
    assert FLUX in response.json()["detail"]


async def test_exact_paths_honour_the_root_path() -> None:
    async with client(create_app(), root_path="/behind/proxy") as http:
        response = await http.post(f"/behind/proxy/modelslab/api{FLUX}", json=BODY)
    assert response.status_code == 200, response.text


async def test_middleware_added_to_the_app_runs_on_exact_paths_and_the_rest() -> None:
    # Exact provider paths skip Starlette's outer layers, never the app's own middleware.
    app = create_app()

    class Tag:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def tagged(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), (b"x-tag", scope["path"].encode())]
                await send(message)

            await self.app(scope, receive, tagged)

    app.add_middleware(Tag)
    async with client(app) as http:
        flux = await http.post(f"/modelslab/api{FLUX}", json=BODY)
        journal = await http.get("/__mock/journal")
    assert flux.status_code == 200
    assert flux.headers["x-tag"] == f"/modelslab/api{FLUX}"
    assert journal.headers["x-tag"] == "/__mock/journal"
