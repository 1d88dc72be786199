"""No open door: binding beyond loopback needs a token (or no admin API), the admin API takes
a token, cross-site and DNS-rebinding calls are refused, the webhook allow-list matches host and
port, and no secret or face image is echoed anywhere a client or a log reader can see it."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from headshot_mock.contracts.cli import main
from headshot_mock.contracts.receiver import WebhookReceiver
from headshot_mock.mockserver import BackgroundServer, ConfigError, MockConfig, create_app
from tests.helpers import http_scope

HEAD_SHOT = "/modelslab/api/v6/image_editing/head_shot"
HS1 = "/agentai/v1/action/instant_headshot_run_headshot_generation"
BODY = {"key": "k", "prompt": "p", "face_image": "https://example.com/f.jpg"}
PROBLEM = "application/problem+json"
JSON = {"content-type": "application/json"}


@asynccontextmanager
async def _client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config=MockConfig(**options))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as client:
        yield client
        await app.state.runtime.idle(timeout=10)


def _problem(response: httpx.Response, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    for needle in needles:
        assert needle in response.json()["detail"], response.json()


# -- binding -----------------------------------------------------------------------------------------


def test_serving_beyond_loopback_without_a_token_is_refused_and_says_how(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--port", "4999"]) == 2
    err = capsys.readouterr().err
    assert "--admin-token TOKEN" in err
    assert "--no-admin" in err
    assert "HEADSHOT_MOCK_ADMIN_TOKEN" in err


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"HEADSHOT_MOCK_HOST": "0.0.0.0", "HEADSHOT_MOCK_ADMIN_TOKEN": "t0ken"}, id="token-env"),
        pytest.param({"HEADSHOT_MOCK_HOST": "10.1.2.3", "HEADSHOT_MOCK_ADMIN": "false"}, id="no-admin-env"),
        pytest.param({"HEADSHOT_MOCK_HOST": "::1"}, id="ipv6-loopback"),
        pytest.param({"HEADSHOT_MOCK_HOST": "localhost"}, id="localhost"),
    ],
)
def test_binding_rules_from_the_environment(environ: dict[str, str]) -> None:
    config = MockConfig.load(environ=environ)
    assert config.host == environ["HEADSHOT_MOCK_HOST"]
    assert "t0ken" not in repr(config)  # the token never shows in a printed config


def test_binding_beyond_loopback_from_a_config_file(tmp_path: Any) -> None:
    file = tmp_path / "mock.yaml"
    file.write_text("host: 0.0.0.0\n")
    with pytest.raises(ConfigError, match="--admin-token"):
        MockConfig.load(file=file, environ={})
    file.write_text("host: 0.0.0.0\nadmin_token: from-a-file\n")
    assert MockConfig.load(file=file, environ={}).admin_token == "from-a-file"


def test_a_background_server_beyond_loopback_needs_a_token_too() -> None:
    with pytest.raises(ConfigError, match="--admin-token"):
        BackgroundServer(create_app(config=MockConfig()), host="0.0.0.0")


# -- the admin token and --no-admin ----------------------------------------------------------------


async def test_with_a_token_every_admin_route_needs_it_and_providers_and_files_do_not() -> None:
    async with _client(admin_token="s3cret-admin") as client:
        for path in ("/__mock/health", "/__mock/journal", "/__mock/openapi.json", "/__mock/jobs"):
            _problem(await client.get(path), 401, "Authorization: Bearer")
        # The web page's shell loads without it (it holds no data, and asks for the token).
        page = await client.get("/__mock/", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        refused = await client.post("/__mock/reset", headers={"authorization": "Bearer wrong"})
        _problem(refused, 401)
        assert refused.headers["www-authenticate"].startswith("Bearer")
        _problem(await client.post("/__mock/reset", headers={"authorization": "Basic czNjcmV0"}), 401)
        made = await client.post(HEAD_SHOT, json=BODY)  # provider routes are not the admin API
        assert made.status_code == 200
        image = await client.get(made.json()["output"][0])  # nor are the files clients download
        assert image.status_code == 200
        ok = await client.get("/__mock/journal", headers={"authorization": "Bearer s3cret-admin"})
        assert ok.status_code == 200
        assert len(ok.json()["entries"]) == 1


async def test_no_admin_serves_providers_and_files_only() -> None:
    async with _client(admin=False) as client:
        _problem(await client.get("/__mock/journal"), 404, "--no-admin")
        _problem(await client.post("/__mock/reset"), 404)
        made = await client.post(HEAD_SHOT, json=BODY)
        assert made.status_code == 200
        assert (await client.get(made.json()["output"][0])).status_code == 200


# -- cross-site and DNS rebinding ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        pytest.param({"origin": "https://evil.example"}, b"", 403, id="foreign-origin"),
        pytest.param({"origin": "null"}, b"", 403, id="opaque-origin"),
        pytest.param({"content-type": "text/plain"}, b'{"advance": 5}', 415, id="text-plain"),
        pytest.param(
            {"content-type": "application/x-www-form-urlencoded"}, b"advance=5", 415, id="form-post"
        ),
        pytest.param({"content-type": "multipart/form-data; boundary=x"}, b"--x--", 415, id="multipart"),
        pytest.param({}, b'{"advance": 5}', 415, id="body-without-content-type"),
        pytest.param({"origin": "http://127.0.0.1:4010", **JSON}, b'{"advance": 5}', 200, id="own-origin"),
        pytest.param(
            {"origin": "http://localhost:3000", **JSON}, b'{"advance": 5}', 200, id="loopback-origin"
        ),
        pytest.param(JSON, b'{"advance": 5}', 200, id="script-without-origin"),
    ],
)
async def test_state_changing_admin_calls_refuse_cross_site_requests(
    headers: dict[str, str], content: bytes, status: int
) -> None:
    async with _client() as client:
        response = await client.post("/__mock/clock", content=content, headers=headers)
        assert response.status_code == status, response.text
        if status >= 400:
            assert response.headers["content-type"] == PROBLEM
        offset = (await client.get("/__mock/clock")).json()["offset"]
        assert offset == (5.0 if status == 200 else 0.0)  # a refused call changed nothing


async def test_bodyless_admin_calls_and_reads_need_no_content_type() -> None:
    async with _client() as client:
        assert (await client.post("/__mock/reset")).status_code == 204
        assert (await client.delete("/__mock/journal")).status_code == 204
        # A foreign page may GET (it cannot read the answer without CORS), never change state.
        assert (
            await client.get("/__mock/journal", headers={"origin": "https://evil.example"})
        ).status_code == 200


def test_a_host_that_is_not_the_mocks_own_name_is_refused() -> None:
    app = create_app(config=MockConfig(public_url="http://mock.internal:4010"))
    with BackgroundServer(app) as server:
        answers = {}
        for host in (
            "evil.example",
            f"evil.example:{server.port}",
            "localhost",
            "127.0.0.1",
            "[::1]",
            "app.localhost",
            "mock.internal:4010",
            f"127.0.0.1:{server.port}",
        ):
            conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
            conn.putrequest("GET", "/__mock/health", skip_host=True)
            conn.putheader("host", host)
            conn.endheaders()
            response = conn.getresponse()
            answers[host] = (response.status, response.getheader("content-type"))
            response.read()
            conn.close()
        provider = httpx.post(f"{server.url}{HEAD_SHOT}", json=BODY, headers={"host": "rebind.attacker.test"})
    assert answers.pop("evil.example") == (421, PROBLEM)
    assert answers.pop(f"evil.example:{server.port}") == (421, PROBLEM)
    assert {status for status, _ in answers.values()} == {200}, answers
    assert provider.status_code == 421
    assert "--public-url" in provider.json()["detail"]


async def test_a_host_verdict_follows_the_address_the_request_came_to() -> None:
    """The guard remembers its verdict per Host header and the address a request reached: a
    Host naming that address is the mock's own, the same Host reaching another address is not,
    in either order and asked again (the address as a tuple or, from some servers, a list)."""
    app = create_app()

    async def status(server: Any) -> int:
        headers = [(b"host", b"10.9.8.7:4010")]
        scope = http_scope("GET", "/__mock/health", headers, server=server, client=("10.9.8.1", 50000))
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await app(scope, receive, send)
        return int(sent[0]["status"])

    seen = [await status(server) for server in [("10.9.8.7", 4010), ("127.0.0.1", 4010)] * 2]
    seen += [await status(["127.0.0.1", 4010]), await status(["10.9.8.7", 4010])]
    assert seen == [200, 421, 200, 421, 421, 200]


async def test_links_use_the_public_url_not_the_host_header() -> None:
    async with _client(public_url="https://mock.example.test") as client:
        made = await client.post(HEAD_SHOT, json=BODY)
        assert made.json()["output"][0].startswith("https://mock.example.test/__mock/files/")


# -- webhooks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "127.0.0.1:99999",
        "127.0.0.1:0",
        "localhost:http",
        "http://127.0.0.1",
        "[::1",
        "a b",
        "",
        "10.0.0.0/33",
        "-bad-.example",
        "127.0.0.1:5101:1",
    ],
)
def test_an_allow_list_entry_that_cannot_be_parsed_is_an_error_at_start(entry: str) -> None:
    with pytest.raises(ConfigError, match="webhook_allow entry"):
        MockConfig(webhook_allow=(entry,))


@pytest.mark.parametrize(
    ("allow", "delivered"),
    [
        pytest.param(("127.0.0.1:{port}",), True, id="address-and-port"),
        pytest.param(("127.0.0.1:{other}",), False, id="other-port"),
        pytest.param(("127.0.0.0/8:{port}",), True, id="network-and-port"),
        pytest.param(("127.0.0.0/8",), True, id="network-any-port"),
        pytest.param(("127.0.0.1:*",), True, id="address-any-port"),
        pytest.param(("10.0.0.0/8", "localhost:*"), False, id="elsewhere"),
        pytest.param(("[::1]:{port}",), False, id="ipv6-is-not-ipv4"),
    ],
)
async def test_the_webhook_allow_list_matches_host_and_port(allow: tuple[str, ...], delivered: bool) -> None:
    with WebhookReceiver() as hooks:
        port = int(hooks.url.split(":")[2].split("/")[0])
        entries = tuple(e.format(port=port, other=port + 1 if port < 65535 else port - 1) for e in allow)
        async with _client(webhook_allow=entries) as client:
            await client.post(HEAD_SHOT, json={**BODY, "webhook": hooks.url})
            await client.post("/__mock/idle")
            [record] = (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"]
    assert record["state"] == ("delivered" if delivered else "refused"), record
    if not delivered:
        assert f"port {port}" in record["error"]
        assert f"--webhook-allow 127.0.0.1:{port}" in record["error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/\u0001hook",
        "http://127.0.0.1:9/a\r\nX-Injected: 1",
        "http://127.0.0.1:9/\x7f",
        "http://[::1",
        "http://127.0.0.1:9/a b",
    ],
)
async def test_webhook_urls_with_control_characters_are_refused_at_request_time(url: str) -> None:
    async with _client() as client:
        answer = await client.post(HEAD_SHOT, json={**BODY, "webhook": url})
        assert answer.status_code == 400
        assert "body.webhook" in answer.json()["message"]
        endpoint = await client.post("/__mock/webhooks/endpoints", json={"url": url})
        _problem(endpoint, 400, "webhook URL")
        assert (await client.get("/__mock/webhooks/deliveries")).json()["deliveries"] == []  # never pending
        assert (await client.get("/__mock/jobs")).json()["jobs"] == []


# -- nothing echoed ----------------------------------------------------------------------------------

PLANTED = {
    "body_key": "sk-PLANTED-body-41xq",
    "bearer": "sk-PLANTED-bearer-82zv",
    "query": "sk-PLANTED-query-93mw",
    "number_key": "7777312345678",
    "hook_secret": "whsec_PLANTED-hook-55ty",
    "config_secret": "whsec_PLANTED-config-66ur",
    "admin_token": "tok-PLANTED-admin-77ie",
    "url_password": "pw-PLANTED-url-88op",
    "url_token": "tk-PLANTED-url-99as",
    "url_signature": "sg-PLANTED-url-10qa",
    "url_user_token": "ut-PLANTED-url-21ws",
    "url_key": "ky-PLANTED-url-32ed",
}
FACE = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg" * 6


async def test_planted_secrets_and_a_face_image_appear_nowhere(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    admin = {"authorization": f"Bearer {PLANTED['admin_token']}"}

    def record(response: httpx.Response) -> httpx.Response:
        seen.append(response.text)
        seen.extend(f"{k}: {v}" for k, v in response.headers.items())
        return response

    options = {
        "admin_token": PLANTED["admin_token"],
        "webhooks": (f"http://127.0.0.1:9/config?key={PLANTED['url_key']}#{PLANTED['config_secret']}",),
    }
    async with _client(**options) as client:
        # Keys where each provider takes them, as a number, in the query; a face image where a
        # number belongs; a webhook secret registered over the admin API.
        record(await client.post(HEAD_SHOT, json={**BODY, "key": PLANTED["body_key"]}))
        record(await client.post(HEAD_SHOT, json={**BODY, "key": int(PLANTED["number_key"])}))
        record(await client.post(f"{HEAD_SHOT}?key={PLANTED['query']}", json=BODY))
        record(
            await client.post(
                HS1, json={"photos_json": "[]"}, headers={"authorization": f"Bearer {PLANTED['bearer']}"}
            )
        )
        record(await client.post(HEAD_SHOT, json={**BODY, "width": f"data:image/png;base64,{FACE}"}))
        record(
            await client.post(
                HEAD_SHOT, json={**BODY, "samples": FACE}, headers={"x-mock-validation": "strict"}
            )
        )
        # Secrets in webhook URLs too: a password, a token as the user, query values.
        hook_url = (
            f"http://hooks:{PLANTED['url_password']}@127.0.0.1:9/admin"
            f"?token={PLANTED['url_token']}&v=1&signature={PLANTED['url_signature']}"
        )
        hook = {"url": hook_url, "secret": PLANTED["hook_secret"]}
        record(await client.post("/__mock/webhooks/endpoints", json=hook, headers=admin))
        hook = {
            "url": f"http://{PLANTED['url_user_token']}@127.0.0.1:9/user",
            "secret": PLANTED["hook_secret"],
        }
        record(await client.post("/__mock/webhooks/endpoints", json=hook, headers=admin))
        project = await client.post(
            "/magichour/v1/ai-headshot-generator",
            json={"assets": {"image_file_path": "https://example.com/f.jpg"}},
            headers={"authorization": "Bearer k"},
        )
        record(project)
        await client.post("/__mock/idle", headers=admin)
        for path in (
            "/__mock/journal",
            "/__mock/webhooks/endpoints",
            "/__mock/webhooks/deliveries",
            "/__mock/jobs",
            "/__mock/rules",
        ):
            record(await client.get(path, headers=admin))
    answers = "\n".join(seen)
    # The webhook attempts were journaled (and listed) with their URLs, secrets masked.
    assert '"kind":"webhook"' in answers.replace(" ", "")
    assert "http://***@127.0.0.1:9/admin?token=***&v=1&signature=***" in answers
    assert "http://***@127.0.0.1:9/user" in answers
    # What `serve` prints at start (the server itself is not started here).
    monkeypatch.setattr("headshot_mock.mockserver.server.serve", lambda *args, **kwargs: None)  # no socket
    hook_flag = (
        f"http://u:{PLANTED['url_password']}@127.0.0.1:9/cli?sig={PLANTED['url_signature']}"
        f"#{PLANTED['config_secret']}"
    )
    assert (
        main(["serve", "--admin-token", PLANTED["admin_token"], "--webhook", hook_flag, "--port", "4998"])
        == 0
    )
    printed = capsys.readouterr()
    # The mock's and the server's logs (the test's own httpx client logs the URLs it was given).
    mock_logs = [r.getMessage() for r in caplog.records if r.name.startswith(("headshot_mock", "uvicorn"))]
    everything = "\n".join([*seen, printed.out, printed.err, *mock_logs])
    for name, secret in PLANTED.items():
        assert secret not in everything, f"the planted {name} leaked"
    assert FACE[:200] not in everything, "the face image was echoed"
    assert "--show-secrets prints the secret" in printed.out


def test_show_secrets_prints_them_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("headshot_mock.mockserver.server.serve", lambda *args, **kwargs: None)  # no socket
    hook = "http://127.0.0.1:9/cli#whsec_shown"
    assert main(["serve", "--webhook", hook, "--show-secrets", "--port", "4998"]) == 0
    assert "signed with whsec_shown" in capsys.readouterr().out


def test_a_long_finding_header_never_carries_an_image(live: Any) -> None:
    body = {**BODY, "width": f"data:image/png;base64,{FACE}", "extra": "x" * 5000}
    response = httpx.post(f"{live.url}{HEAD_SHOT}", json=body, headers={"x-mock-validation": "strict"})
    assert response.status_code == 400
    assert FACE[:200] not in response.headers["x-mock-violations"]
    assert FACE[:200] not in response.text
    entries = httpx.get(f"{live.url}/__mock/journal").json()["entries"]
    assert FACE[:200] not in json.dumps(entries)
