"""The web page at /__mock/ in a real browser: Debian's Chromium driven by Playwright.

No browser is downloaded: Playwright launches the system's ``/usr/bin/chromium``. Without it
(or without the ``playwright`` package) these tests are skipped, saying how to install them;
``.ci/run`` installs Chromium and the ``test`` extra brings Playwright. Screenshots land in
``test-artifacts/web-page/`` (git-ignored); docs/web-page.md shows a few of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from headshot_mock import specs
from headshot_mock.contracts.receiver import WebhookReceiver
from headshot_mock.mockserver import BackgroundServer, MemoryStore, MockConfig, create_app
from tests.conftest import ROOT

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="pip install playwright (the test extra) to drive the page in a browser"
)
CHROMIUM = os.environ.get("HEADSHOT_MOCK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("no system Chromium: apt-get install chromium (.ci/run does)", allow_module_level=True)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-artifacts" / "web-page"
PORTRAIT = "/idphoto/api/generate-portrait"
HEADSHOT = "/modelslab/api/v6/image_editing/head_shot"
AGENTAI = "/agentai/v1/action/instant_headshot_run_headshot_generation"
TIMEOUT = 10_000  # ms: generous, CI machines are shared

pytestmark = pytest.mark.slow


IMAGE = "data:image/jpeg;base64," + "A" * 400


def portrait(**extra: Any) -> dict[str, Any]:
    return {"apiKey": "secret-key", "prompt": "a studio headshot", "inputImages": [IMAGE], **extra}


def agentai_body() -> dict[str, Any]:
    """The spec's own documented example of an agent.ai call."""
    spec = specs.load("agentai")
    op = spec.operation("instantHeadshotRunHeadshotGeneration")
    media = spec.resolve(op.definition["requestBody"])["content"]["application/json"]
    value: dict[str, Any] = spec.resolve(media["examples"]["documented_defaults"])["value"]
    return value


def headshot(**extra: Any) -> dict[str, Any]:
    return {
        "key": "secret-key",
        "prompt": "a studio headshot",
        "face_image": "https://example.com/f.jpg",
        **extra,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def mock() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(config=MockConfig())) as server:
        yield server


@pytest.fixture
def slow_mock() -> Iterator[BackgroundServer]:
    """Jobs on a real-time clock: a ModelsLab generation processes for 10 s unless finished."""
    with BackgroundServer(create_app(config=MockConfig(time_scale=1))) as server:
        yield server


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Opens the page of a server in a fresh browser context; fails the test on a script error."""
    contexts: list[Any] = []
    errors: list[str] = []

    def opener(url: str, *, width: int = 1280, height: int = 860) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/__mock/")
        page.wait_for_selector("body[data-live]")
        return page

    yield opener
    for context in contexts:
        context.close()  # ends the page's long poll before its server stops
    assert errors == [], errors


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def rows(page: Any) -> list[str]:
    texts: list[str] = page.locator("#requests tbody tr").all_inner_texts()
    return texts


def test_requests_appear_live_without_a_reload(mock: BackgroundServer, open_page: Callable[..., Any]) -> None:
    page = open_page(mock.url)
    assert rows(page) == []
    page.evaluate("window.notReloaded = true")
    httpx.post(f"{mock.url}{PORTRAIT}", json=portrait()).raise_for_status()
    httpx.post(f"{mock.url}{HEADSHOT}", json={"prompt": 1})  # findings: no key, no face
    httpx.post(f"{mock.url}{HEADSHOT}", json=headshot(), headers={"x-mock-scenario": "rate_limited"})
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(3)
    assert page.evaluate("window.notReloaded") is True
    newest, rejected, first = rows(page)
    assert re.search(r"#3\s.*modelslab\s+headShot\s+rate_limited\s+429", newest)
    assert "findings" in rejected
    assert re.search(r"#1\s.*idphoto\s+generatePortrait\s+success\s+200", first)
    sync_api.expect(page.locator("#status")).to_contain_text("Live: 3 entries")
    shot(page, "requests")


def test_a_detail_shows_thumbnails_findings_and_snippets(
    mock: BackgroundServer, open_page: Callable[..., Any]
) -> None:
    page = open_page(mock.url)
    bad = httpx.post(f"{mock.url}{HEADSHOT}", json=headshot(num_inference_steps="many"))
    made = httpx.post(f"{mock.url}{AGENTAI}", json=agentai_body(), headers={"authorization": "Bearer k"})
    assert made.status_code == 200, made.text
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(2)

    page.get_by_role("button", name="Open request 2").click()
    detail = page.locator("#detail")
    sync_api.expect(detail.get_by_role("heading", name="Generated images")).to_be_visible()
    image = detail.locator(".thumbs img").first
    sync_api.expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert "/__mock/files/" in image.get_attribute("src")
    curl = detail.locator("#snippet-curl").input_value()
    assert curl.splitlines()[1].startswith(f"curl -X POST '{mock.url}{AGENTAI}'")
    assert "authorization: Bearer ***" in curl
    pytest_snippet = detail.locator("#snippet-pytest").input_value()
    compile(pytest_snippet, "snippet.py", "exec")
    assert 'client.post("/action/instant_headshot_run_headshot_generation"' in pytest_snippet
    detail.get_by_role("heading", name="Generated images").scroll_into_view_if_needed()
    shot(page, "detail")

    page.get_by_role("button", name="Open request 1").click()
    sync_api.expect(detail.locator("#detail-title")).to_contain_text("headShot #1")
    findings = [
        f for f in httpx.get(f"{mock.url}/__mock/journal/1").json()["findings"] if f["location"] == "body"
    ]
    assert bad.status_code in (200, 400)
    assert findings
    marked = detail.locator("pre.json mark")
    sync_api.expect(marked.first).to_be_visible()
    assert {m.get_attribute("data-field") or "" for m in marked.all()} & {f["field"] for f in findings}
    sync_api.expect(detail.locator(".docs a").first).to_have_attribute("href", re.compile(r"^https://"))


def test_finishing_a_job_from_the_page_fires_its_webhook(
    slow_mock: BackgroundServer, open_page: Callable[..., Any]
) -> None:
    mock = slow_mock
    with WebhookReceiver() as hooks:
        page = open_page(mock.url)
        started = httpx.post(
            f"{mock.url}{HEADSHOT}",
            json=headshot(webhook=hooks.url, track_id=7),
            headers={"x-mock-scenario": "processing"},
        )
        assert started.json()["status"] == "processing", started.text
        job_id = str(started.json()["id"])
        page.get_by_role("tab", name="Jobs").click()
        job = page.locator(f'#jobs tr[data-job="modelslab/{job_id}"]')
        sync_api.expect(job.locator(".job-state")).to_have_text("processing")
        shot(page, "jobs")
        job.get_by_label(f"End job {job_id} as").select_option("")  # its own final state
        job.get_by_role("button", name="Finish now").click()
        sync_api.expect(job.locator(".job-state")).to_have_text("success (done)")
        [delivery] = hooks.wait_for(1)
        assert delivery.json["status"] == "success"

        page.get_by_role("tab", name="Webhooks").click()
        item = page.locator("#deliveries details").first
        sync_api.expect(item.locator("summary")).to_contain_text(f"→ {hooks.url}")
        sync_api.expect(item.locator("summary")).to_contain_text("delivered")
        item.locator("summary").click()
        sync_api.expect(item.locator(".verdict")).to_have_text("unsigned")
        sync_api.expect(item.locator("table.attempts tbody tr")).to_have_count(1)
        sync_api.expect(item.locator("table.attempts tbody tr td").nth(2)).to_have_text("200")
        sync_api.expect(item.locator("pre.json")).to_contain_text('"status": "success"')
        shot(page, "webhooks")


def test_finishing_a_job_in_another_state_and_advancing_the_clock(
    slow_mock: BackgroundServer, open_page: Callable[..., Any]
) -> None:
    mock = slow_mock
    page = open_page(mock.url)
    started = httpx.post(f"{mock.url}{HEADSHOT}", json=headshot(), headers={"x-mock-scenario": "processing"})
    job_id = str(started.json()["id"])
    page.get_by_role("tab", name="Jobs").click()
    job = page.locator(f'#jobs tr[data-job="modelslab/{job_id}"]')
    job.get_by_label(f"End job {job_id} as").select_option("failed")
    job.get_by_role("button", name="Finish now").click()
    sync_api.expect(job.locator(".job-state")).to_have_text("failed (done)")
    assert httpx.get(f"{mock.url}/__mock/jobs").json()["jobs"][0]["final"] == "failed"

    page.get_by_label("Advance by (s)").fill("3600")
    page.get_by_role("button", name="Advance clock").click()
    sync_api.expect(page.locator("#clock-now")).to_contain_text("(+3600 s)")
    assert httpx.get(f"{mock.url}/__mock/clock").json()["offset"] == 3600


def test_a_rule_added_from_the_form_answers_the_next_call(
    mock: BackgroundServer, open_page: Callable[..., Any]
) -> None:
    page = open_page(mock.url)
    page.get_by_role("tab", name="Scenarios").click()
    page.get_by_label("Rule: provider").select_option("idphoto")
    page.get_by_label("Rule: operation").select_option("generatePortrait")
    page.get_by_label("Rule: scenario").select_option("rate_limited")
    page.get_by_label("Rule: number of calls").fill("1")
    page.get_by_role("button", name="Add rule").click()
    sync_api.expect(page.locator("#rules-table tbody tr")).to_have_count(1)
    sync_api.expect(page.locator("#rules-table tbody tr")).to_contain_text("rate_limited")
    shot(page, "scenarios")

    assert httpx.post(f"{mock.url}{PORTRAIT}", json=portrait()).status_code == 429
    assert httpx.post(f"{mock.url}{PORTRAIT}", json=portrait()).status_code == 200
    page.get_by_role("tab", name="Requests").click()
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(2)
    assert re.search(r"rate_limited\s+429", rows(page)[1])

    page.get_by_role("tab", name="Scenarios").click()
    sync_api.expect(page.locator("#rules")).to_contain_text("No rule queued")
    page.get_by_label("modelslab", exact=True).select_option("server_error")
    sync_api.expect(page.locator("#message")).to_contain_text("modelslab now answers server_error")
    assert httpx.post(f"{mock.url}{HEADSHOT}", json=headshot()).status_code == 500


def test_filters(mock: BackgroundServer, open_page: Callable[..., Any]) -> None:
    for _ in range(2):
        httpx.post(f"{mock.url}{PORTRAIT}", json=portrait())
    httpx.post(f"{mock.url}{HEADSHOT}", json=headshot())
    httpx.post(f"{mock.url}{HEADSHOT}", json={"prompt": 1})
    httpx.post(f"{mock.url}{HEADSHOT}", json=headshot(), headers={"x-mock-scenario": "rate_limited"})
    page = open_page(mock.url)
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(5)

    page.get_by_label("Provider", exact=True).select_option("modelslab")
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(3)
    sync_api.expect(page.locator("#requests-count")).to_have_text("3 of 5 entries match")
    page.get_by_label("Status", exact=True).select_option("429")
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Clear filters").click()
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(5)
    page.get_by_label("Has violations").check()
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(1)
    page.get_by_label("Has violations").uncheck()
    page.get_by_label("Scenario", exact=True).select_option("rate_limited")
    page.get_by_label("Operation", exact=True).select_option("headShot")
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(1)
    # New calls that match appear under the filters too.
    httpx.post(f"{mock.url}{HEADSHOT}", json=headshot(), headers={"x-mock-scenario": "rate_limited"})
    httpx.post(f"{mock.url}{PORTRAIT}", json=portrait())
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(2)


def test_keyboard_navigation(mock: BackgroundServer, open_page: Callable[..., Any]) -> None:
    for _ in range(3):
        httpx.post(f"{mock.url}{PORTRAIT}", json=portrait())
    page = open_page(mock.url)
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(3)

    page.locator("#tab-requests").focus()
    page.keyboard.press("ArrowRight")
    sync_api.expect(page.get_by_role("tab", name="Jobs")).to_be_focused()
    sync_api.expect(page.locator("#panel-jobs")).to_be_visible()
    page.keyboard.press("End")
    sync_api.expect(page.get_by_role("tab", name="Scenarios")).to_be_focused()
    page.keyboard.press("Home")
    sync_api.expect(page.locator("#panel-requests")).to_be_visible()

    page.get_by_role("button", name="Open request 3").focus()
    page.keyboard.press("ArrowDown")
    sync_api.expect(page.get_by_role("button", name="Open request 2")).to_be_focused()
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#detail-title")).to_contain_text("#2")
    sync_api.expect(page.locator("#detail")).to_be_focused()
    page.keyboard.press("Escape")
    sync_api.expect(page.locator("#detail")).to_be_hidden()
    sync_api.expect(page.get_by_role("button", name="Open request 2")).to_be_focused()

    # Every control has an accessible name.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button, textarea')]
            .filter(e => !e.closest('[hidden]') && !e.closest('dialog'))
            .filter(e => !(e.labels?.length || e.getAttribute('aria-label') || e.textContent.trim()))
            .map(e => e.outerHTML)"""
    )
    assert unnamed == []


def test_a_narrow_window_has_no_sideways_scroll(
    mock: BackgroundServer, open_page: Callable[..., Any]
) -> None:
    httpx.post(f"{mock.url}{PORTRAIT}", json=portrait())
    page = open_page(mock.url, width=380, height=800)
    sync_api.expect(page.locator("#requests tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Open request 1").click()
    sync_api.expect(page.locator("#detail")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 380
    shot(page, "narrow")


class _RequireToken:
    """What --admin-token does (the hardening work): a Bearer token on the admin API's data
    routes; the page and its files load without one, so a browser can ask for it."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token, self.seen = app, token, []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        open_paths = path in ("/__mock/", "/__mock/web/app.js", "/__mock/web/app.css")
        if scope["type"] == "http" and path.startswith("/__mock/") and not open_paths:
            headers = dict(scope["headers"])
            self.seen.append((scope["method"], path, headers.get(b"content-type"), headers.get(b"origin")))
            if headers.get(b"authorization") != f"Bearer {self.token}".encode():
                body = json.dumps(
                    {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "token"}
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/problem+json")],
                    }
                )
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


def test_the_page_asks_for_the_admin_token_and_sends_it(browser: Any) -> None:
    guarded = _RequireToken(create_app(config=MockConfig()), "s3cret")
    with BackgroundServer(guarded) as server:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(f"{server.url}/__mock/")
        dialog = page.get_by_role("dialog", name="Admin token")
        sync_api.expect(dialog).to_be_visible()
        dialog.get_by_label("Token").fill("s3cret")
        dialog.get_by_role("button", name="Use token").click()
        page.wait_for_selector("body[data-live]")
        assert page.evaluate("sessionStorage.getItem('headshot-mock-admin-token')") == "s3cret"
        httpx.post(f"{server.url}{PORTRAIT}", json=portrait())
        sync_api.expect(page.locator("#requests tbody tr")).to_have_count(1)
        page.get_by_role("tab", name="Scenarios").click()
        page.get_by_role("button", name="Add rule").click()
        sync_api.expect(page.locator("#rules-table tbody tr")).to_have_count(1)
        context.close()
    posts = [s for s in guarded.seen if s[0] != "GET"]
    assert posts
    assert all(ct == b"application/json" and origin == server.url.encode() for _, _, ct, origin in posts)


def test_ten_thousand_entries_paint_quickly(browser: Any) -> None:
    """Fills the journal with 10,000 entries (copies of real ones) and records the first paint."""
    store = MemoryStore(journal_limit=20_000)
    app = create_app(config=MockConfig(journal_limit=20_000), store=store)
    with BackgroundServer(app) as server:
        httpx.post(f"{server.url}{PORTRAIT}", json=portrait())
        httpx.post(f"{server.url}{HEADSHOT}", json={"prompt": 1})
        seeds = httpx.get(f"{server.url}/__mock/journal").json()["entries"]

        async def fill() -> None:
            for i in range(10_000 - len(seeds)):
                copy = {k: v for k, v in seeds[i % len(seeds)].items() if k != "seq"}
                await store.journal_append(copy)

        server.call(fill())
        assert httpx.get(f"{server.url}/__mock/journal/summaries").json()["count"] == 10_000
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT)
        page.goto(f"{server.url}/__mock/")
        page.wait_for_selector("body[data-live]")
        paint = float(page.evaluate("document.body.dataset.firstPaintMs"))
        sync_api.expect(page.locator("#requests tbody tr")).to_have_count(50)
        page.wait_for_selector("body[data-loaded-ms]")
        loaded = float(page.evaluate("document.body.dataset.loadedMs"))
        sync_api.expect(page.locator("#page-info")).to_have_text("Page 1 of 200")
        # Filtering all 10,000 stays quick too.
        took = page.evaluate(
            """() => { const t = performance.now();
                document.querySelector('#f-violations').click();
                return performance.now() - t; }"""
        )
        sync_api.expect(page.locator("#requests-count")).to_have_text("5000 of 10000 entries match")
        context.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    figures = f"first paint {paint:.1f} ms; all 10,000 loaded {loaded:.1f} ms; a filter {took:.1f} ms"
    (ARTIFACTS / "paint-10k.txt").write_text(figures + "\n")
    print(f"10,000 entries: {figures}")
    assert paint < 2_000
    assert took < 500
