"""Magic Hour's webhook signature, for the mock that signs and the receiver that verifies.

``magic-hour-event-signature`` is the lowercase hex HMAC-SHA256, keyed with the endpoint's
secret, of ``"<timestamp>.<raw body>"``; ``magic-hour-event-timestamp`` is that Unix time in
seconds (H5). A receiver:

    from headshot_mock.mockserver.signing import verify_magichour, InvalidSignature
    try:
        verify_magichour(secret, request.headers, raw_body)
    except InvalidSignature as exc:
        return 400, str(exc)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "magic-hour-event-signature"
TIMESTAMP_HEADER = "magic-hour-event-timestamp"
TOLERANCE = 300.0
"""Seconds a timestamp may be off, as the provider's secure-handler guide suggests (H5)."""


class InvalidSignature(ValueError):
    """The delivery's signature or timestamp does not check out; the message says which."""


def sign_magichour(secret: str, timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def magichour_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign_magichour(secret, timestamp, body), TIMESTAMP_HEADER: str(timestamp)}


def verify_magichour(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float | None = TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise :class:`InvalidSignature` unless ``body`` was signed with ``secret`` recently.

    ``headers`` may use any case. ``tolerance=None`` skips the freshness check (replayed
    fixtures); ``now`` defaults to the current time.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} is not Unix seconds: {stamp!r}") from None
    if tolerance is not None and abs((time.time() if now is None else now) - sent_at) > tolerance:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} {sent_at} is more than {tolerance:g} s away from now")
    if not hmac.compare_digest(sign_magichour(secret, stamp, body), signature.lower()):
        raise InvalidSignature("signature does not match the body and secret")
