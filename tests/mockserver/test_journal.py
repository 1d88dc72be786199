"""What a journal entry records, made cheaply: the fast paths give what the slow ones gave."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock.mockserver import codec, journal
from headshot_mock.mockserver.runtime import iso

VALUES = st.recursive(
    st.none()
    | st.integers()
    | st.text(max_size=300)
    | st.sampled_from(["x" * 256, "y" * 257, "data:image/png;" * 20, 'q"' * 200]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["key", "a", "b"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, derandomize=True)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_timestamp_is_iso(ts: float) -> None:
    assert journal.timestamp(ts) == iso(ts)


@settings(max_examples=300, derandomize=True)
@given(VALUES)
def test_summarise_body_decides_to_walk_as_splitting_at_quotes_did(value: Any) -> None:
    """The regex only decides whether to walk the value: the result is the one the split gave."""
    encoded = codec.dumps(value)
    if len(encoded) > journal.LONG_STRING and max(map(len, encoded.split(b'"'))) > journal.LONG_STRING:
        before = journal.redact(value, ("key",))
    elif isinstance(value, dict) and "key" in value:
        before = {**value, "key": journal.redact_key(value["key"])}
    else:
        before = value
    assert journal.summarise_body(value, encoded, ("key",)) == before


def test_long_strings_are_summarised_and_short_ones_kept() -> None:
    body = {"key": "sk-real", "photo": "data:image/png;base64," + "A" * 300, "prompt": "p" * 256}
    kept = journal.summarise_body(body, json.dumps(body).encode(), ("key",))
    assert kept == {"key": "***", "photo": "<image: 322 chars redacted>", "prompt": "p" * 256}


def test_redact_headers_masks_secrets_and_lowercases_names() -> None:
    plain = {"host": "h", "content-type": "a/b"}
    assert journal.redact_headers(plain) == plain
    masked = journal.redact_headers({"authorization": "Bearer sk-1", "host": "h"})
    assert masked == {"authorization": "Bearer ***", "host": "h"}
    assert journal.redact_headers({"X-Api-Key": "mock-slow"}) == {"x-api-key": "mock-slow"}


SECRET_TEXT = st.text(
    alphabet="abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789_-", min_size=12, max_size=40
)


@settings(max_examples=200, derandomize=True)
@given(
    secret=SECRET_TEXT,
    user=st.sampled_from(["", "hooks", "svc-1"]),
    name=st.sampled_from(sorted(journal.SECRET_QUERY)),
    port=st.sampled_from(["", ":9", ":5101"]),
    path=st.sampled_from(["", "/", "/hook", "/a/b@c"]),
    where=st.sampled_from(["password", "user", "query", "fragment"]),
)
def test_a_webhook_url_keeps_no_secret_and_the_rest_as_it_was(
    secret: str, user: str, name: str, port: str, path: str, where: str
) -> None:
    userinfo = {"password": f"{user}:{secret}@", "user": f"{secret}@"}.get(where, "")
    query = f"?v=1&{name}={secret}" if where == "query" else "?v=1"
    fragment = f"#{secret}" if where == "fragment" else ""
    url = f"https://{userinfo}hooks.test{port}{path}{query}{fragment}"
    shown = journal.redact_url(url)
    assert secret not in shown
    assert shown.startswith(f"https://{'***@' if userinfo else ''}hooks.test{port}{path}?v=1")


def test_a_url_without_secrets_or_that_does_not_parse_is_kept() -> None:
    for url in (
        "http://127.0.0.1:5101/hook?event=a",
        "http://[::1",
        "not a url",
        "http://h/p?key=mock-success",
    ):
        assert journal.redact_url(url) == url
