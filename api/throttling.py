"""Failed-login throttling shared by the token endpoint and the login page.

Only failures count, per username and per client address, so a reader who
types the password right is never slowed down by others' attempts.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def _parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(count), seconds


def _keys(request: HttpRequest, username: str) -> list[str]:
    # Hashed so that usernames and addresses never sit in the cache in clear.
    address = request.META.get("REMOTE_ADDR", "")
    return [
        "login-fail:" + hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()
        for kind, value in (("user", username.lower()), ("addr", address))
    ]


def login_retry_after(request: HttpRequest, username: str) -> int | None:
    """Seconds to wait if too many logins failed recently, else None."""
    limit, window = _parse_rate(
        settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
    )
    now = time.time()
    waits = []
    for key in _keys(request, username):
        failures = [t for t in cache.get(key, []) if t > now - window]
        if len(failures) >= limit:
            waits.append(int(failures[0] + window - now) + 1)
    return max(waits) if waits else None


def record_failed_login(request: HttpRequest, username: str) -> None:
    _, window = _parse_rate(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"])
    now = time.time()
    for key in _keys(request, username):
        failures = [t for t in cache.get(key, []) if t > now - window]
        cache.set(key, [*failures, now], timeout=window)
