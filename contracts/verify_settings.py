"""Defaults shared by ``verify``, its runner and its report, and ``proxy``'s request cap (the CLI
reads them here, without importing either command)."""

from __future__ import annotations

from typing import Literal

PhaseName = Literal["positive", "negative", "stateful"]
PHASES: tuple[PhaseName, ...] = ("positive", "negative", "stateful")
DEFAULT_MAX_REQUESTS = 100
DEFAULT_MAX_EXAMPLES = 10
PROXY_MAX_REQUESTS = 20
"""Requests ``proxy`` forwards before it stops (a real upstream bills calls)."""
DEFAULT_API_KEY = "headshot-mock-verify"
"""Sent when no key is given: the mock accepts any key; a real provider answers 401."""
DEFAULT_CHECKS: tuple[str, ...] = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
"""What every response is checked for. ``positive_data_acceptance`` is available but not a
default: image APIs rightly refuse schema-valid but meaningless input (an image that is not
one, an unknown file extension) with a documented 400/422, which that check calls a failure."""
OPTIONAL_CHECKS: tuple[str, ...] = ("positive_data_acceptance",)
STEPS_PER_SCENARIO = 4
"""Longest stateful scenario (generation → fetch → ...): a Hypothesis step count."""
TIMEOUT_SECONDS = 30.0
REDACTED = "[redacted]"
BODY_LIMIT = 500


class BudgetExhausted(Exception):
    """Raised by the counting session instead of sending request ``max_requests + 1``."""
