"""The pytest plugin, run the way a user runs it: in a pytester sandbox, found by its entry point."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _sandbox_ini(pytester: pytest.Pytester) -> None:
    # A user's project: pytest-asyncio (installed here) wants its loop scope said out loud.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


MODELSLAB_OK = '{"key": "k", "prompt": "p", "face_image": "https://example.com/f.jpg"}'


def test_fixtures_need_no_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import json

        def test_in_process(headshot_mock):
            client = headshot_mock.client("modelslab")
            answer = client.post("/v6/image_editing/head_shot", json=json.loads('{MODELSLAB_OK}'))
            assert answer.json()["status"] == "success"
            headshot_mock.assert_called("headShot", times=1)
            headshot_mock.assert_called_with("headShot", prompt="p")

        def test_live_server(headshot_mock_server):
            import httpx
            base = headshot_mock_server.base_url("idphoto")
            assert base.startswith("http://127.0.0.1:")
            body = {{"apiKey": "k", "prompt": "p", "inputImages": ["data:image/jpeg;base64,AA=="]}}
            answer = httpx.post(base + "/api/generate-portrait", json=body)
            assert answer.status_code == 200
            assert answer.json()["outputImages"][0].startswith("data:image/jpeg;base64,")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_contract_violation_fails_the_test_with_a_readable_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_sends_the_sdk_default(headshot_mock):
            client = headshot_mock.client("modelslab")
            body = {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg", "num_inference_steps": 20}
            client.post("/v6/image_editing/head_shot", json=body)   # the client ignores the 400
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ContractViolation: 1 request(s) broke the documented contract (strict level):*",
            "*modelslab.headShot (POST /modelslab/api/v6/image_editing/head_shot) answered 400:*",
            "*body.num_inference_steps: 20 is not one of 21, 31 or 41*",
            "*documented at https://*",
        ]
    )


def test_strictness_is_relaxable_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.headshot_mock(level="lenient", strict=False)
        def test_lenient(headshot_mock):
            client = headshot_mock.client("modelslab")
            body = {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg", "num_inference_steps": 20}
            assert client.post("/v6/image_editing/head_shot", json=body).status_code == 200
            assert headshot_mock.violations()
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_scenario_marker_and_context_manager(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import json
        import pytest

        BODY = json.loads('{MODELSLAB_OK}')

        @pytest.mark.headshot_scenario("rate_limited", provider="modelslab")
        def test_marker(headshot_mock):
            client = headshot_mock.client("modelslab")
            assert client.post("/v6/image_editing/head_shot", json=BODY).status_code == 429

        def test_context_manager(headshot_mock):
            client = headshot_mock.client("modelslab")
            with headshot_mock.scenario("server_error", provider="modelslab"):
                assert client.post("/v6/image_editing/head_shot", json=BODY).status_code == 500
            assert client.post("/v6/image_editing/head_shot", json=BODY).status_code == 200

        @pytest.mark.headshot_scenario("rate_limitd")
        def test_unknown_scenario(headshot_mock):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*Did you mean 'rate_limited'?*"])


def test_clock_jobs_and_webhooks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.headshot_mock(time_scale=1.0)
        def test_clock(headshot_mock, headshot_webhooks):
            client = headshot_mock.client("magichour", headers={"authorization": "Bearer k"})
            project = client.post("/v1/ai-headshot-generator", json={"assets": {"image_file_path": "https://e.com/f.jpg"}}).json()
            assert client.get(f"/v1/image-projects/{project['id']}").json()["status"] == "queued"
            headshot_mock.advance(60)
            headshot_mock.idle()
            assert client.get(f"/v1/image-projects/{project['id']}").json()["status"] == "complete"
            started, completed = headshot_webhooks.wait_for(2)
            assert (started.json["type"], completed.json["type"]) == ("image.started", "image.completed")
            assert started.verified and completed.verified
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_called_assertions_explain_what_happened(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_not_called(headshot_mock):
            headshot_mock.assert_called("fetchResult")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*expected fetchResult to be called at least once, it was called 0 time(s)*"]
    )


def test_a_project_with_its_own_contracts_specs_and_mockserver_packages(pytester: pytest.Pytester) -> None:
    # The names our repository folders carry are common ones; installed, they live under headshot_mock.
    for package in ("contracts", "specs", "mockserver"):
        pytester.mkpydir(package).joinpath("plugin.py").write_text("raise ImportError('the user package')\n")
    pytester.makepyfile(
        f"""
        import json

        import contracts, mockserver, specs

        def test_uses_the_plugin_beside_its_own_packages(headshot_mock):
            assert contracts.__file__.startswith({str(pytester.path)!r})
            client = headshot_mock.client("modelslab")
            answer = client.post("/v6/image_editing/head_shot", json=json.loads('{MODELSLAB_OK}'))
            assert answer.json()["status"] == "success"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


BAD_STEPS = '{"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg", "num_inference_steps": 20}'
VIOLATION_LINES = [
    "*headshot-mock: 1 request(s) broke the documented contract (strict level):*",
    "*modelslab.headShot (POST /modelslab/api/v6/image_editing/head_shot) answered 400:*",
    "*body.num_inference_steps: 20 is not one of 21, 31 or 41*",
    "*documented at https://*",
]


@pytest.mark.parametrize(
    ("fails_with", "line"),
    [
        pytest.param(
            "answer.raise_for_status()", "*HTTPStatusError: Client error '400 Bad Request'*", id="raise"
        ),
        pytest.param("assert answer.json()['status'] == 'success'", "*AssertionError*", id="assert"),
        pytest.param(
            "raise RuntimeError('my client gave up')", "*RuntimeError: my client gave up*", id="error"
        ),
    ],
)
def test_violations_reach_the_report_however_the_test_fails(
    pytester: pytest.Pytester, fails_with: str, line: str
) -> None:
    pytester.makepyfile(
        f"""
        import json

        def test_client_raises_first(headshot_mock):
            client = headshot_mock.client("modelslab")
            answer = client.post("/v6/image_editing/head_shot", json=json.loads('{BAD_STEPS}'))
            {fails_with}
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # one failure, no second error at teardown
    result.stdout.fnmatch_lines([line, *VIOLATION_LINES])


def test_a_failing_lenient_session_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import json
        import pytest

        @pytest.mark.headshot_mock(strict=False)
        def test_not_strict(headshot_mock):
            client = headshot_mock.client("modelslab")
            client.post("/v6/image_editing/head_shot", json=json.loads('{BAD_STEPS}')).raise_for_status()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "broke the documented contract" not in result.stdout.str()


def test_an_unknown_operation_name_is_an_error_with_a_suggestion(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_typo(headshot_mock):
            headshot_mock.assert_called("headshot")

        def test_typo_for_one_provider(headshot_mock):
            headshot_mock.assert_called("generatePortrai", provider="idphoto")

        def test_typo_in_a_scenario_marker(headshot_mock):
            headshot_mock.use_scenario("error", provider="modelslab", operation="fetchResults")
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*UnknownOperation: Provider 'modelslab' has no operation 'headshot'. Did you mean 'headShot'?*",
            "*UnknownOperation: Provider 'idphoto' has no operation 'generatePortrai'. "
            "Did you mean 'generatePortrait'?*",
            "*Did you mean 'fetchResult'?*",
        ]
    )


def test_a_session_outside_pytest_checks_on_exit() -> None:
    from headshot_mock import ContractViolation, MockSession

    body = {"key": "k", "prompt": "p", "face_image": "https://e.com/f.jpg", "num_inference_steps": 20}
    with pytest.raises(ContractViolation, match="num_inference_steps"), MockSession() as mock:
        mock.client("modelslab").post("/v6/image_editing/head_shot", json=body)
    with MockSession(strict=False) as mock:
        mock.client("modelslab").post("/v6/image_editing/head_shot", json=body)
    assert mock.checked
