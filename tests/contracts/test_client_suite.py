"""The client contract suite, run on real clients: the examples, the official SDKs, and broken ones.

- ``Test*Example``: the httpx clients in ``examples/``, with the outcome each scenario should have
  (which transient errors they retry, which exception they raise, which message it carries).
- ``Test*Sdk``: the official SDKs, unmodified, behind a thin adapter (an SDK that reports errors
  in its return value is made to raise). Their expectations say what the SDK really does: none
  of them retries a 429 or a 500, and modelslab_py's defaults break the documented ranges.
- ``test_the_suite_catches_*``: deliberately broken clients, each derived from an example by one
  override, run in a pytester sandbox so that this run stays green while theirs fails.

Every scenario that makes a client wait is kept short: the mock holds a ``timeout`` request for
``HOLD`` seconds, clients give up after ``CLIENT_TIMEOUT``, polls are bounded and fast.
"""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from agentai import AgentAiClient
from magic_hour import Client as MagicHourClient
from make_api_request import ApiError

from examples.agentai_client import AgentAiError, AgentAiHeadshots
from examples.idphoto_client import IdPhotoError, IdPhotoPortraits
from examples.magichour_client import MagicHourError, MagicHourHeadshots, WebhookHandler
from examples.modelslab_client import ModelsLabError, ModelsLabHeadshots
from headshot_mock.contracts.session import MockSession
from headshot_mock.contracts.suite import ClientSuite, images, raises
from headshot_mock.contracts.violations import ContractViolation
from headshot_mock.mockserver import MockConfig

with warnings.catch_warnings():
    # modelslab_py 0.2.3 declares its schemas with pydantic-v1 idioms (class Config, json_encoders).
    warnings.simplefilter("ignore", DeprecationWarning)
    from modelslab_py.core.apis.image_editing import Image_editing
    from modelslab_py.core.client import Client as ModelsLabClient
    from modelslab_py.schemas.image_editing import HeadshotSchema

ROOT = Path(__file__).resolve().parents[2]
HOLD = 2.0
"""Seconds the mock holds a ``timeout`` request."""
CLIENT_TIMEOUT = 1.0
"""Every client's request timeout: below HOLD, well above a normal answer on loopback."""
DEADLINE = 15.0
RETRY_WAIT = 0.01  # seconds between retries: the suite does not wait out real back-offs
"""Retry backoff for the suites (the examples default to a second, doubling)."""
AGENTAI_HS1 = "/action/instant_headshot_run_headshot_generation"


class SdkCallFailed(Exception):
    """Raised by an SDK adapter when the SDK *returned* a failure instead of raising one."""


# -- the examples ----------------------------------------------------------------------------------


class TestModelsLabExample(ClientSuite):
    provider = "modelslab"
    hold, deadline = HOLD, DEADLINE
    client_class: ClassVar[type[ModelsLabHeadshots]] = ModelsLabHeadshots
    expect = {
        "rate_limited": images(),  # retried: only the first call fails
        "server_error": images(),
        "timeout": raises(TimeoutError, match="did not answer"),
        "stuck": raises(TimeoutError, match="still processing"),
        "error": raises(ModelsLabError, match=r"^ModelsLab \(200\): Failed to generate"),  # 200 envelope
        "no_face": raises(ModelsLabError, match=r"^ModelsLab \(200\): No face detected"),
        "failed": raises(ModelsLabError, match=r"^ModelsLab \(200\): Image generation failed"),  # on fetch
        "unauthorized": raises(ModelsLabError, match=r"^ModelsLab \(401\)"),
        "insufficient_credits": raises(ModelsLabError, match=r"^ModelsLab \(402\)"),
    }

    def generate(self, base_url: str, api_key: str, photo: bytes) -> list[bytes]:
        with self.client_class(
            api_key,
            base_url=base_url,
            timeout=CLIENT_TIMEOUT,
            max_retry_wait=0.05,  # the 429 body asks for 30 s
            poll_interval=0.01,
            max_polls=5,
            retry_wait=RETRY_WAIT,
        ) as client:
            return client.generate(photo)


class TestAgentAiExample(ClientSuite):
    provider = "agentai"
    hold, deadline = HOLD, DEADLINE
    client_class: ClassVar[type[AgentAiHeadshots]] = AgentAiHeadshots
    expect = {
        "rate_limited": images(),  # retried after retry-after (capped): only the first call fails
        "server_error": images(),
        "timeout": raises(TimeoutError, match="did not answer"),
        "unauthorized": raises(AgentAiError, match=r"^agent\.ai \(403\): Invalid API token"),
        "insufficient_credits": raises(AgentAiError, match=r"^agent\.ai \(402\)"),
        "moderation_blocked": raises(AgentAiError, match=r"^agent\.ai \(422\): Content moderation"),
    }

    def generate(self, base_url: str, api_key: str, photo: bytes) -> list[bytes]:
        with self.client_class(
            api_key, base_url=base_url, timeout=CLIENT_TIMEOUT, max_retry_wait=0.05, retry_wait=RETRY_WAIT
        ) as client:
            return client.generate(photo)


class TestIdPhotoExample(ClientSuite):
    provider = "idphoto"
    hold, deadline = HOLD, DEADLINE
    expect = {
        "rate_limited": images(),
        "server_error": images(),
        "timeout": raises(TimeoutError, match="did not answer"),
        "unauthorized": raises(IdPhotoError, match=r"^idphoto\.ai \(401\)"),
        "insufficient_credits": raises(IdPhotoError, match=r"^idphoto\.ai \(402\)"),
        "no_face": raises(IdPhotoError, match=r"^idphoto\.ai \(422\): No face detected"),
    }

    def generate(self, base_url: str, api_key: str, photo: bytes) -> list[bytes]:
        with IdPhotoPortraits(
            api_key, base_url=base_url, timeout=CLIENT_TIMEOUT, retry_wait=RETRY_WAIT
        ) as client:
            return client.generate(photo, samples=2, seed=421337)


class TestMagicHourExample(ClientSuite):
    provider = "magichour"
    hold, deadline = HOLD, DEADLINE
    webhook_handler_class: ClassVar[type[WebhookHandler]] = WebhookHandler
    expect = {
        "rate_limited": images(),  # the first call (upload-urls) fails once and is retried
        "server_error": images(),
        "timeout": raises(TimeoutError, match="did not answer"),
        "stuck": raises(TimeoutError, match="still"),
        "error": raises(MagicHourError, match="project error: unknown_error"),
        "no_face": raises(MagicHourError, match="project error: no_source_face"),
        "canceled": raises(MagicHourError, match="project canceled"),
        "unauthorized": raises(MagicHourError, match="answered 401"),
        "insufficient_credits": raises(MagicHourError, match="answered 402"),
    }

    def generate(self, base_url: str, api_key: str, photo: bytes) -> list[bytes]:
        with MagicHourHeadshots(
            api_key,
            base_url=base_url,
            timeout=CLIENT_TIMEOUT,
            poll_interval=0.01,
            max_polls=8,
            retry_wait=RETRY_WAIT,
        ) as client:
            return client.generate(photo)

    def handle_webhook(self, headers: Any, body: bytes) -> int:
        return self.webhook_handler_class(self.webhook_secret)(headers, body)


# -- the official SDKs -----------------------------------------------------------------------------


class TestAgentAiSdk(ClientSuite):
    """PyPI ``agentai``: ``_post`` returns ``{status, error, results}`` and never raises."""

    provider = "agentai"
    hold, deadline = HOLD, DEADLINE
    expect = {
        "rate_limited": raises(SdkCallFailed, match="^429: Rate limit exceeded"),  # no retry in the SDK
        "server_error": raises(SdkCallFailed, match="^500: Internal server error"),
        "timeout": raises(SdkCallFailed, match="^None: Request timed out"),  # _post(timeout=...)
        "unauthorized": raises(SdkCallFailed, match="^403: Invalid API token"),
        "insufficient_credits": raises(SdkCallFailed, match="^402: Insufficient credits"),
        "moderation_blocked": raises(SdkCallFailed, match="^422: Content moderation"),
    }

    def generate(self, base_url: str, api_key: str, photo: bytes) -> list[bytes]:
        client = AgentAiClient(bearer_token=api_key)
        client.BASE_URL = base_url  # instance override, read through self.BASE_URL
        photos = [{"base64": base64.b64encode(photo).decode("ascii"), "mimeType": "image/jpeg"}]
        body = {
            "photos_json": json.dumps(photos),
            "style": "professional",
            "background": "studio_white",
            "attire": "business_formal",
            "output_variable_name": "headshot_result",
            "count": "1",
        }
        result = client._post(AGENTAI_HS1, body, timeout=CLIENT_TIMEOUT)
        if result["status"] != 200:
            raise SdkCallFailed(f"{result['status']}: {result['error']}")
        return [httpx.get(image["url"], timeout=10).content for image in result["results"]["images"]]


class TestModelsLabSdk(ClientSuite):
    """PyPI ``modelslab_py``: ``Image_editing.headshot`` with the SDK's defaults, then ``fetch``.

    The SDK fills in defaults outside the documented ranges (num_inference_steps 20,
    guidance_scale 7.5, s_scale 7.5, an undocumented ``style``). The real provider accepts them,
    so this suite serves the mock at the lenient level (the calls succeed, as in production) and
    *expects* the suite to report those strict-level violations in every scenario: each test
    passes only when the outcome is the declared one and the one reported problem is exactly the
    SDK defaults.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [
        pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20")
    ]
    provider = "modelslab"
    hold, deadline = HOLD, DEADLINE
    sdk_default_violations = ("num_inference_steps", "guidance_scale", "s_scale")
    expect = {
        "rate_limited": raises(Exception, match="status code 429"),  # the SDK raises a bare Exception
        "server_error": raises(Exception, match="status code 500"),
        "unauthorized": raises(Exception, match="status code 401"),
        "insufficient_credits": raises(Exception, match="status code 402"),
        # requests.post without a timeout: the held request just takes HOLD seconds, then succeeds
        "timeout": images(),
        "error": raises(SdkCallFailed, match="^error: Failed to generate"),  # HTTP 200 envelopes
        "no_face": raises(SdkCallFailed, match="^error: No face detected"),
        "failed": raises(SdkCallFailed, match="^failed: Image generation failed"),
        "stuck": raises(TimeoutError, match="after 5 fetches"),  # fetch gives up after fetch_retry
    }

    @classmethod
    def session_config(cls) -> MockConfig:
        return super().session_config().replace(level="lenient")

    def run_scenario(self, mock: MockSession, scenario: str) -> None:
        with pytest.raises(ContractViolation) as reported:
            super().run_scenario(mock, scenario)
        message = str(reported.value)
        assert ", but it sent requests that break the documented contract:" in message, message
        assert "; and " not in message.split("(calls:")[0], f"the outcome was wrong too:\n{message}"
        for field in self.sdk_default_violations:
            assert f"body.{field}:" in message, message
        assert "'style' was unexpected" in message, message

    def generate(self, base_url: str, api_key: str, photo: bytes) -> list[bytes]:
        client = ModelsLabClient(api_key=api_key, fetch_retry=5)
        client.fetch_timeout = 0.01  # seconds slept between fetch attempts (default 60)
        client.base_url = base_url.rstrip("/") + "/"  # before Image_editing copies it
        api = Image_editing(client=client)
        face = "data:image/jpeg;base64," + base64.b64encode(photo).decode("ascii")
        answer = api.headshot(HeadshotSchema(prompt="professional headshot", face_image=face))
        if answer["status"] == "processing":
            answer = api.fetch(str(answer["id"]))
            if answer["status"] == "processing":
                raise TimeoutError("still processing after 5 fetches")
        if answer["status"] != "success":
            raise SdkCallFailed(f"{answer['status']}: {answer.get('message')}")
        return [httpx.get(url, timeout=10).content for url in answer["output"]]


class TestMagicHourSdk(ClientSuite):
    """PyPI ``magic-hour``: ``ai_headshot_generator.generate`` uploads, creates, polls, downloads."""

    provider = "magichour"
    hold, deadline = HOLD, DEADLINE
    # check_result polls until complete/error/canceled with no limit: under ``stuck`` the SDK
    # would poll past any deadline (and keep polling in the background), so it is not run.
    skip = ("stuck",)
    expect = {
        "rate_limited": raises(ApiError, match="429"),  # the SDK does not retry
        "server_error": raises(ApiError, match="500"),
        "unauthorized": raises(ApiError, match="401"),
        "insufficient_credits": raises(ApiError, match="402"),
        "timeout": raises(httpx.TimeoutException),  # Client(timeout=CLIENT_TIMEOUT)
        "error": raises(SdkCallFailed, match="^error: .*unknown_error"),  # returned, not raised
        "no_face": raises(SdkCallFailed, match="^error: .*no_source_face"),
        "canceled": raises(SdkCallFailed, match="^canceled"),
    }
    workdir: Path

    @pytest.fixture(autouse=True)
    def _fast_polls(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("MAGIC_HOUR_POLL_INTERVAL", "0.01")
        self.workdir = tmp_path

    def generate(self, base_url: str, api_key: str, photo: bytes) -> list[str]:
        face = self.workdir / "face.jpg"
        face.write_bytes(photo)
        out = self.workdir / "out"
        out.mkdir(exist_ok=True)
        client = MagicHourClient(token=api_key, base_url=base_url, timeout=CLIENT_TIMEOUT)
        try:
            result = client.v1.ai_headshot_generator.generate(
                assets={"image_file_path": str(face)},
                wait_for_completion=True,
                download_outputs=True,
                download_directory=str(out),
            )
        finally:
            client._base_client.httpx_client.close()
        if result.status != "complete":
            raise SdkCallFailed(f"{result.status}: {result.error}")
        return list(result.downloaded_paths or [])


# -- the suite catches broken clients ----------------------------------------------------------------


@pytest.fixture
def sandbox(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project that can import ``examples`` and the suites above."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.syspathinsert(ROOT)
    return pytester


def run_broken(sandbox: pytest.Pytester, source: str, *node_ids: str) -> pytest.RunResult:
    sandbox.makepyfile(test_broken=source)
    return sandbox.runpytest("-p", "no:cacheprovider", *(f"test_broken.py::{n}" for n in node_ids))


def test_the_suite_catches_a_modelslab_client_that_never_polls(sandbox: pytest.Pytester) -> None:
    result = run_broken(
        sandbox,
        """
        from examples.modelslab_client import ModelsLabHeadshots
        from tests.contracts.test_client_suite import TestModelsLabExample as Example

        class NeverPolls(ModelsLabHeadshots):
            def _wait(self, answer):
                return answer  # hands back the processing answer, whose output is []

        class TestNeverPolls(Example):
            client_class = NeverPolls
        """,
        "TestNeverPolls::test_scenario[processing]",
        "TestNeverPolls::test_scenario[success]",
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*TestNeverPolls under scenario 'processing' should return at least 1 decodable image(s),"
            " but it returned 0 decodable image(s) ([[]])",
            "FAILED test_broken.py::TestNeverPolls::test_scenario[[]processing] - *",
        ]
    )


def test_the_suite_catches_an_agentai_client_that_sends_count_as_an_integer(
    sandbox: pytest.Pytester,
) -> None:
    result = run_broken(
        sandbox,
        """
        from examples.agentai_client import AgentAiHeadshots
        from tests.contracts.test_client_suite import TestAgentAiExample as Example

        class IntegerCount(AgentAiHeadshots):
            def _count(self, count):
                return count  # 1, where the documented contract says "1"

        class TestIntegerCount(Example):
            client_class = IntegerCount
        """,
        "TestIntegerCount::test_scenario[success]",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TestIntegerCount under scenario 'success' should return at least 1 decodable image(s), but it"
            " raised AgentAiError: agent.ai (400): body.count*; and it sent requests that break the"
            " documented contract:",
            "*agentai.instantHeadshotRunHeadshotGeneration (POST */action/instant_headshot_run_headshot_"
            "generation) answered 400:*",
            '*body.count: 1 is not of type "string"*',
            "*documented at https://docs.agent.ai/*",
        ]
    )


def test_the_suite_catches_a_modelslab_client_that_ignores_200_error_envelopes(
    sandbox: pytest.Pytester,
) -> None:
    result = run_broken(
        sandbox,
        """
        from examples.modelslab_client import ModelsLabError, ModelsLabHeadshots
        from tests.contracts.test_client_suite import TestModelsLabExample as Example

        class StatusCodeOnly(ModelsLabHeadshots):
            def _raise_for_error(self, status, data):
                if status != 200:  # trusts HTTP 200, whatever the body's status says
                    raise ModelsLabError(status, str(data.get("message")))

        class TestStatusCodeOnly(Example):
            client_class = StatusCodeOnly
        """,
        "TestStatusCodeOnly::test_scenario[error]",
        "TestStatusCodeOnly::test_scenario[unauthorized]",
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*TestStatusCodeOnly under scenario 'error' should raise ModelsLabError matching*,"
            " but it returned normally ([[]])",
            "FAILED test_broken.py::TestStatusCodeOnly::test_scenario[[]error] - *",
        ]
    )


def test_the_suite_catches_a_magichour_webhook_handler_that_does_not_verify(
    sandbox: pytest.Pytester,
) -> None:
    result = run_broken(
        sandbox,
        """
        import json

        from examples.magichour_client import WebhookHandler
        from tests.contracts.test_client_suite import TestMagicHourExample as Example

        class Trusting(WebhookHandler):
            def verify(self, headers, body):
                return json.loads(body)  # no signature check

        class TestTrusting(Example):
            webhook_handler_class = Trusting
        """,
        "TestTrusting::test_webhook_signatures",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ContractViolation: TestTrusting's webhook handler: it accepted a delivery whose body does"
            " not match its signature; it accepted an unsigned delivery*",
        ]
    )
