"""Every fenced code block of README.md and docs/*.md runs here (Sybil), so no page can drift.

One test per page (new pages are picked up by themselves); its blocks run in order, sharing one
namespace, in a temporary working folder. What "runs" means, by the block's language:

- ``python``: executed as plain Python (no top-level ``await``: a reader pastes it into a
  script). A block whose first line is ``# name.py`` is also saved as that file. A block that
  is a test module (``def test_…``/``class Test…``, and only imports, definitions and
  assignments at the top) is run by pytest with the headshot-mock plugin, as a reader would run
  it; it must pass, unless the plain block right after it shows pytest's ``E`` lines, which the
  failure must then print.
- ``console``: each ``$ headshot-mock …`` command runs through ``main()`` (``VAR=value`` prefixes
  become the environment) and must print what the page shows, ``…`` standing for anything; a
  ``serve``/``proxy`` that would start serving is only parsed (``serve`` into its config), and a
  ``verify`` that would send requests (to the server the session started) only parsed.
  ``$ pytest FILE`` runs a file
  an earlier block saved and must print the lines shown. ``$ printf … > FILE`` writes the file.
  A ``curl`` command is part of a session with a live server whose answers depend on what ran
  before: the route it calls (method and path) must exist on the mock.
- ``bash``/``sh``: scripts without output: ``headshot-mock`` commands are parsed (flags and
  values checked), scripts must exist and be executable, curl routes are checked.
- ``yaml``: parsed; a mock config file (its keys all options) must load into ``MockConfig``.
- ``json``: parsed, unless it is an excerpt (holds ``…``).

Python blocks that talk to ``http://127.0.0.1:4010`` (the port ``./scripts/serve`` uses) get a
mock served there for the page; where that port is taken, they are skipped, saying so.
``<!-- skip: next "reason" -->`` before a block skips it: keep those rare, and give the reason.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import gc
import io
import itertools
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
import unittest
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from headshot_mock import BackgroundServer, MockConfig, create_app
from headshot_mock.contracts import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SERVE_PORT = 4010
TEST_BLOCK = re.compile(r"^(def test_|async def test_|class Test)", re.M)
ELLIPSIS = "…"
SERVING = ("serve", "proxy")
"""Commands that serve until stopped: a page's run parses them (and builds serve's config)."""


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


# The official SDKs a page runs leave their connection pools to the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning")
@pytest.mark.filterwarnings("ignore:Exception ignored in. <socket:pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page(page: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    runner = _Runner(page, pytester, monkeypatch)
    sybil = Sybil(
        parsers=[
            CodeBlockParser("python", runner.python),
            CodeBlockParser("console", runner.console),
            CodeBlockParser("bash", runner.console),
            CodeBlockParser("sh", runner.console),
            CodeBlockParser("yaml", runner.yaml),
            CodeBlockParser("json", runner.json),
            SkipParser(),
        ],
    )
    document = sybil.parse(page)
    document.namespace.update(__name__="__main__", __file__=str(pytester.path / "doc.py"))
    with runner:
        skipped = []
        for example in document.examples():
            runner.example = example
            try:
                example.evaluate()
            except (unittest.SkipTest, pytest.skip.Exception) as skip:
                skipped.append(f"line {example.line}: {skip}")
            except Exception as exc:
                raise AssertionError(f"{_page_id(page)}, block at line {example.line}: {exc}") from exc
        runner.finish()
    document.namespace.clear()
    gc.collect()  # the pools go now, under this test's filters, not at the session's end
    if skipped:
        print("skipped:", *skipped, sep="\n  ")


class _Runner:
    """State one page's blocks share: the working folder, saved files, a server on 4010."""

    def __init__(self, page: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.page = page
        self.pytester = pytester
        self.monkeypatch = monkeypatch
        self.example: Example | None = None
        self.saved: dict[str, bool] = {}
        """Saved test files, and whether a ``$ pytest`` ran them."""
        self._stack = contextlib.ExitStack()
        self._server: BackgroundServer | bool | None = None

    def __enter__(self) -> _Runner:
        self.monkeypatch.chdir(self.pytester.path)
        text = self.page.read_text(encoding="utf-8")
        scripts = re.findall(r"^```python\n#\s*([\w.-]+\.py)\b[^\n]*\n(.*?)^```", text, re.M | re.S)
        for name, source in scripts:
            # a walkthrough may run a script its page shows further down
            (self.pytester.path / name).write_text(f"# {name}\n{source}", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def finish(self) -> None:
        unrun = [name for name, ran in self.saved.items() if not ran]
        for name in unrun:  # a saved test file no `$ pytest` block ran: it must pass
            self._pytest(name, expected=None)

    # python ------------------------------------------------------------------------------------
    def python(self, example: Example) -> None:
        """Save ``# name.py`` blocks; run blocks holding tests with pytest, the rest with exec."""
        source: str = example.parsed
        first = source.lstrip().splitlines()[0] if source.strip() else ""
        named = re.match(r"#\s*([\w.-]+\.py)\b", first)
        if f"http://127.0.0.1:{SERVE_PORT}" in source:
            self._serve_on_port()
        if named:
            (self.pytester.path / named.group(1)).write_text(source, encoding="utf-8")
            if not _is_test_module(source):
                return  # a script: the `$ python name.py` of the page runs it
        if _is_test_module(source):
            name = named.group(1) if named else f"test_block_line_{example.line}.py"
            if not named:
                (self.pytester.path / name).write_text(source, encoding="utf-8")
                self._pytest(name, expected=self._expected_failure(example))
            self.saved[name] = not named
            return
        code = compile("\n" * example.line + source, str(self.page), "exec", dont_inherit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # an SDK's deprecation warnings are the reader's to see
            exec(code, example.namespace)

    def _serve_on_port(self) -> None:
        if self._server is None:
            app = create_app(config=MockConfig(port=SERVE_PORT))
            try:
                server = BackgroundServer(app, port=SERVE_PORT)
            except OSError:
                self._server = False
            else:
                self._server = self._stack.enter_context(server)
        if self._server is False:
            pytest.skip(f"port {SERVE_PORT} is taken on this machine; the block needs a mock there")

    def _expected_failure(self, example: Example) -> list[str] | None:
        """The ``E`` lines of a plain block right after ``example``, if it has one."""
        rest = example.document.text[example.end :]
        match = re.match(r"\s*```\n(.*?)\n```", rest, re.S)
        if match is None:
            return None
        lines = match.group(1).splitlines()
        return lines if lines and all(line.startswith("E") for line in lines) else None

    def _pytest(self, name: str, *, expected: list[str] | None, args: tuple[str, ...] = ()) -> str:
        result = self.pytester.runpytest("-p", "no:cacheprovider", *args, name)
        out = result.stdout.str()
        outcomes = result.parseoutcomes()
        if expected is None:
            assert not outcomes.get("failed"), out
            assert not outcomes.get("errors"), out
            assert outcomes.get("passed"), out
        else:
            assert outcomes.get("failed"), out
            _match([_shape(e.removeprefix("E").strip()) for e in expected if e.strip() != "E"], out, "E")
        return out

    # console, bash, sh -------------------------------------------------------------------------
    def console(self, example: Example) -> None:
        lines = example.parsed.splitlines()
        prompt = any(line.startswith("$ ") for line in lines)
        for words, output, background in _commands(lines, prompt=prompt):
            self._command(words, output if prompt else None, background=background)

    def _command(self, words: list[str], output: list[str] | None, *, background: bool = False) -> None:
        words, target = _redirected(words)
        env: dict[str, str] = {}
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if not words:
            return
        program = words[0]
        if program == "headshot-mock" and background and words[1:2] == ["serve"]:
            self._serve_in_background(words[1:], env)
        elif program == "headshot-mock":
            self._headshot_mock(words[1:], env, output)
        elif program == "pytest" and words[-1].endswith(".py"):
            self._run_saved_tests(words, output)
        elif program in ("python", "python3"):
            self._python(words[1:], output, background=background)
        elif program == "curl":
            _check_route(words, output or [])
        elif program == "printf" and target is not None:
            text = words[1].encode().decode("unicode_escape")
            (self.pytester.path / target).write_text(text, encoding="utf-8")
        elif program.startswith(("./scripts/", "benchmarks/")):
            script = ROOT / program
            assert script.is_file(), f"{program} does not exist"
            assert os.access(script, os.X_OK), f"{program} is not executable"
        # other commands (time, file, base64, kill, ...) only frame the session

    def _serve_in_background(self, argv: list[str], env: dict[str, str]) -> None:
        """``headshot-mock serve … &``: the mock this walkthrough talks to, for the rest of the page."""
        with self.monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            config = cli.config_from(cli._parser().parse_args(argv))
        try:
            server = BackgroundServer(create_app(config=config), host=config.host, port=config.port)
        except OSError:
            pytest.skip(f"port {config.port} is taken on this machine; the walkthrough serves the mock there")
        self._stack.enter_context(server)

    def _python(self, argv: list[str], output: list[str] | None, *, background: bool) -> None:
        """``python script.py`` (a file a block saved) or ``python -c …``, as a reader runs it."""
        command = [sys.executable, *argv]
        if background:
            process = subprocess.Popen(command, cwd=self.pytester.path, stdout=subprocess.DEVNULL)
            self._stack.callback(_end, process)
            time.sleep(0.5)  # a receiver binds its port before the next command talks to it
            assert process.poll() is None, f"`python {' '.join(argv)} &` exited at once"
            return
        done = subprocess.run(command, cwd=self.pytester.path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"python {' '.join(argv)} failed:\n{done.stdout}{done.stderr}"
        if output:
            _match([_shape(line) for line in output], done.stdout, f"python {' '.join(argv)}")

    def _headshot_mock(self, argv: list[str], env: dict[str, str], output: list[str] | None) -> None:
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)
        try:
            if output is None or (argv and argv[0] in SERVING and not _shows_error(output)):
                args = cli._parser().parse_args(argv)  # a script's command, or one that would serve
                if argv[0] == "serve" and output is not None:
                    cli.config_from(args)  # what would be served; serving itself would not return
                return
            if argv and argv[0] == "verify" and "--dry-run" not in argv:
                cli._parser().parse_args(argv)  # it needs the server the session started
                return
            buffer = io.StringIO()
            with (
                contextlib.redirect_stdout(buffer),
                contextlib.redirect_stderr(buffer),
                contextlib.suppress(SystemExit),
            ):
                cli.main(argv)
            if output is not None:
                _match([_shape(line) for line in output], buffer.getvalue(), "headshot-mock")
        finally:
            for key in env:
                self.monkeypatch.delenv(key, raising=False)

    def _run_saved_tests(self, words: list[str], output: list[str] | None) -> None:
        name = words[-1]
        assert name in self.saved, f"no block saved {name} before `pytest {name}`"
        self.saved[name] = True
        out = self._pytest(name, expected=None, args=tuple(w for w in words[1:-1] if w.startswith("-")))
        if output:
            _match([_shape(line) for line in output], out, "pytest")

    # data --------------------------------------------------------------------------------------
    def yaml(self, example: Example) -> None:
        data = yaml.safe_load(example.parsed)
        fields = {f.name for f in dataclasses.fields(MockConfig)}
        if isinstance(data, dict) and data and set(data) <= fields:
            path = self.pytester.path / "doc-config.yaml"
            path.write_text(example.parsed, encoding="utf-8")
            MockConfig.load(file=str(path))

    def json(self, example: Example) -> None:
        import json

        if ELLIPSIS not in example.parsed:
            json.loads(example.parsed)


def _commands(lines: list[str], *, prompt: bool) -> Iterator[tuple[list[str], list[str], bool]]:
    """(command, the lines it printed) for a transcript (``$ `` prompts) or a script. A command
    goes on over lines ending in ``\\`` and while a quote is open."""
    command: str | None = None
    output: list[str] = []
    for line in lines:
        if command is not None and not _complete(command):
            command = command[:-1] + " " + line.strip() if command.endswith("\\") else f"{command}\n{line}"
            continue
        if prompt and not line.startswith("$ "):
            output.append(line)
            continue
        if command is not None:
            yield from _split(command, output)
        text = line[2:] if prompt else line
        command, output = (text.rstrip() if text.strip() else None), []
    if command is not None:
        yield from _split(command, output)


def _is_test_module(source: str) -> bool:
    """Tests (``def test_…``, ``class Test…``) and nothing at the top but imports, definitions and
    assignments: a file to run with pytest. With other statements (asserts, calls) it is a script
    that uses what earlier blocks defined, run in the page's namespace."""
    if not TEST_BLOCK.search(source):
        return False
    kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign)
    body = ast.parse(source).body
    return all(isinstance(node, kinds) or _is_docstring(node) for node in body)


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _redirected(words: list[str]) -> tuple[list[str], str | None]:
    """The words without ``> FILE``/``>> FILE``, and that FILE (where stdout goes)."""
    kept: list[str] = []
    target = None
    rest = iter(words)
    for word in rest:
        if word in (">", ">>"):
            target = next(rest, None)
        else:
            kept.append(word)
    return kept, target


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # only the process this page started, by its handle
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def _split(command: str, output: list[str]) -> Iterator[tuple[list[str], list[str], bool]]:
    """The words of each command of a line: ``a; b`` and ``a && b`` run a, then b (the output
    belongs to the last); of ``a | b`` only a counts; a trailing ``&`` is dropped."""
    command = re.sub(r"\s\d?>&\d\b", "", command)  # `2>&1`: where stderr goes does not matter here
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    parts: list[list[str]] = [[]]
    background: set[int] = set()
    piped = False
    for word in lexer:
        if word in (";", "&&", "&"):
            if word == "&":
                background.add(len(parts) - 1)
            parts.append([])
            piped = False
        elif word in ("|", "||"):
            piped = True
        elif not piped:
            parts[-1].append(word)
    last = max((i for i, p in enumerate(parts) if p), default=-1)
    for i, words in enumerate(parts):
        if words:
            yield words, output if i == last else [], i in background


def _shows_error(output: list[str] | None) -> bool:
    return bool(output) and any(" error: " in line or line.startswith("usage:") for line in output or ())


def _shape(line: str) -> str:
    """A line as a regular expression: ``…`` is anything, timings and rulers are loose."""
    parts = [re.escape(p) for p in line.strip().split(ELLIPSIS)]
    pattern = ".*".join(parts)
    pattern = re.sub(r"in\\ \d+(?:\\\.\d+)?s", r"in [\\d.]+s", pattern)
    pattern = re.sub(r"(?:=){3,}", "=+", pattern)
    return re.sub(r"(?:\\ )+", r"\\s+", pattern)


def _match(patterns: list[str], text: str, what: str) -> None:
    """Each pattern matches a line of ``text``, in order (lines between are allowed)."""
    lines = [line.strip() for line in text.splitlines()]
    if what == "E":  # pytest's failure lines: compare what follows the "E"
        lines = [line[1:].strip() for line in lines if line.startswith("E")]
    at = 0
    for pattern in patterns:
        if pattern in ("", ".*"):
            continue
        for i in range(at, len(lines)):
            if re.fullmatch(pattern, lines[i]):
                at = i + 1
                break
        else:
            shown = textwrap.indent(text, "    ")
            raise AssertionError(f"{what} did not print a line matching {pattern!r}; it printed:\n{shown}")


_APP = None


async def _status(method: str, path: str) -> int:
    import httpx

    assert _APP is not None
    transport = httpx.ASGITransport(app=_APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4077") as client:
        return (await client.request(method, path)).status_code


def _check_route(words: list[str], output: list[str]) -> None:
    """The route a curl command calls exists on the mock (method and path), unless the page
    shows the mock saying it does not."""
    from starlette.routing import Match

    global _APP
    if _APP is None:
        _APP = create_app(config=MockConfig())
    urls = [w for w in words if re.match(r"https?://", w)]
    if not urls and any(w.startswith(ELLIPSIS) for w in words):
        return  # an abbreviated command ("curl -s …/image-projects/ID …")
    assert urls, f"curl without a URL: {' '.join(words)}"
    method = "GET"
    for flag, value in itertools.pairwise(words):
        if flag == "-X":
            method = value
    if method == "GET" and any(w in ("-d", "--data", "--data-binary") for w in words):
        method = "POST"
    path = re.sub(r"^https?://[^/]+", "", urls[0]).split("?", 1)[0] or "/"
    if ELLIPSIS in path:
        return  # an abbreviated URL ("…/image-projects/ID …")
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    matches = [route.matches(scope)[0] for route in _APP.routes]
    for answer, status in (("Method not allowed", 405), ("No such route", 404)):
        if any(answer in line for line in output):  # a refusal does not depend on state: ask
            got = asyncio.run(_status(method, path))
            assert got == status, f"{method} {path} answers {got}, the page shows {status}"
            return
    assert Match.FULL in matches, f"the mock serves no {method} {path}, which the page calls"
