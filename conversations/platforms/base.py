"""What every platform client shares: the interface, errors that name the failed call, retries, tokens.

A client has three methods (docs/architecture.md, "Platform clients"):

* ``get_conversation(id)`` -> ``PlatformConversation`` or ``None`` when the platform does not know it;
* ``close_conversation(id, reason)`` -> ``CloseResult`` (``description`` says which call answered what);
* ``list_active()`` -> list of ``PlatformConversation`` the platform holds open.

Every HTTP call has connect/read timeouts; 429, 5xx and transport errors (timeouts, refused
connections) are retried with exponential backoff, honouring ``Retry-After`` up to a cap; a 401 gets
one fresh token and one more try. A call that still fails raises ``PlatformError`` whose message says
which platform call failed and how ("genesys POST /api/v2/conversations/c-1/disconnect failed: HTTP 503
after 3 attempts").
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from django.conf import settings

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
# A cached token is renewed this long before the platform says it expires.
TOKEN_MARGIN_SECONDS = 60


class PlatformError(Exception):
    """A platform call failed for good (after its retries). ``status`` is the last HTTP status, if any."""

    def __init__(self, platform: str, call: str, problem: str, *, status: int | None = None):
        self.platform, self.call, self.problem, self.status = platform, call, problem, status
        super().__init__(f"{platform} {call} failed: {problem}")


@dataclass(frozen=True)
class PlatformConversation:
    id: str
    state: str  # pending | active | closed | expired (the console's vocabulary)
    last_activity_at: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.state in ("pending", "active")


@dataclass(frozen=True)
class CloseResult:
    description: str  # e.g. "genesys POST /api/v2/conversations/c-1/disconnect -> 202"
    status: int
    not_found: bool = False


@dataclass
class Token:
    value: str
    expires_at: float


class TokenCache:
    """Access tokens per (token URL, client id), shared by the clients of one process until they expire."""

    def __init__(self):
        self._tokens: dict[tuple[str, str], Token] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None or time.time() >= token.expires_at:
                return None
            return token.value

    def put(self, key: tuple[str, str], value: str, expires_in: float) -> None:
        lifetime = max(0.0, float(expires_in) - TOKEN_MARGIN_SECONDS)
        with self._lock:
            self._tokens[key] = Token(value, time.time() + lifetime)

    def forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


def pause(seconds: float) -> None:
    """Wait between attempts (tests replace it to record the waits instead)."""
    time.sleep(seconds)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - time.time())


class HttpPlatformClient:
    """HTTP plumbing of a platform client: timeouts, retries, bearer tokens, errors naming the call."""

    platform = "platform"

    def __init__(
        self,
        api_base: str,
        *,
        max_attempts: int | None = None,
        max_retry_after: float | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.api_base = api_base.rstrip("/")
        self.max_attempts = max_attempts or settings.PLATFORM_MAX_ATTEMPTS
        self.max_retry_after = settings.PLATFORM_MAX_RETRY_AFTER_SECONDS if max_retry_after is None else max_retry_after
        self.sleep = sleep or pause
        self.http = httpx.Client(
            timeout=httpx.Timeout(
                settings.PLATFORM_READ_TIMEOUT_SECONDS, connect=settings.PLATFORM_CONNECT_TIMEOUT_SECONDS
            ),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "conversation-state-console"},
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- authentication: subclasses with tokens override these -------------------------------

    def auth_headers(self) -> dict:
        return {}

    def forget_token(self) -> bool:
        """Drop the cached token; True when a fresh one can be fetched (so a 401 is worth one more try)."""
        return False

    # --- requests ------------------------------------------------------------------------------

    def describe(self, method: str, url: str) -> str:
        """``METHOD /path`` of a full URL (calls under the API base are named by their API path)."""
        path = urlsplit(url).path or "/"
        return f"{method} {path}"

    def request(self, method: str, path: str, *, ok_statuses=(200,), not_found_ok=False, **kwargs) -> httpx.Response:
        """One API call with its retries; answers the response whose status is in ``ok_statuses``
        (or 404 when ``not_found_ok``), else raises PlatformError naming the call."""
        url = f"{self.api_base}{path}"
        call = f"{method} {path}"
        reauthenticated = False
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.request(method, url, headers=self.auth_headers(), **kwargs)
            except httpx.TimeoutException as error:
                problem = f"timed out ({type(error).__name__})"
                if attempt < self.max_attempts:
                    self._backoff(call, attempt, problem)
                    continue
                raise PlatformError(self.platform, call, f"{problem} after {attempt} attempts") from error
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
                if attempt < self.max_attempts:
                    self._backoff(call, attempt, problem)
                    continue
                raise PlatformError(self.platform, call, f"{problem} after {attempt} attempts") from error
            status = response.status_code
            if status in ok_statuses or (not_found_ok and status == 404):
                return response
            if status == 401 and not reauthenticated and self.forget_token():
                # The token was revoked or expired early: one fresh token, one more try.
                reauthenticated = True
                attempt -= 1
                continue
            problem = f"HTTP {status}{_detail(response)}"
            if status in RETRY_STATUSES and attempt < self.max_attempts:
                wait = retry_after_seconds(response) if status in (429, 503) else None
                if wait is not None and wait > self.max_retry_after:
                    raise PlatformError(
                        self.platform,
                        call,
                        f"{problem}; the platform asks to retry after {wait:.0f} s",
                        status=status,
                    )
                self._backoff(call, attempt, problem, wait=wait)
                continue
            if status == 401 and reauthenticated:
                problem += " after re-authentication"
            elif attempt > 1:
                problem += f" after {attempt} attempts"
            raise PlatformError(self.platform, call, problem, status=status)

    def json(self, response: httpx.Response, call: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            raise PlatformError(self.platform, call, "answered a body that is not JSON") from None
        if not isinstance(body, dict):
            raise PlatformError(self.platform, call, "answered JSON that is not an object")
        return body

    def _backoff(self, call: str, attempt: int, problem: str, *, wait: float | None = None) -> None:
        if wait is None:
            ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
            wait = random.uniform(ceiling / 2, ceiling)
        log.warning("%s %s: %s; retrying in %.1f s", self.platform, call, problem, wait)
        self.sleep(wait)


class OAuthClientCredentials:
    """Mixin: OAuth 2 client-credentials tokens, cached until shortly before they expire."""

    token_url: str
    client_id: str
    client_secret: str

    def _token_key(self) -> tuple[str, str]:
        return (self.token_url, self.client_id)

    def auth_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.access_token()}"}

    def forget_token(self) -> bool:
        TOKENS.forget(self._token_key())
        return True

    def access_token(self) -> str:
        cached = TOKENS.get(self._token_key())
        if cached:
            return cached
        value, expires_in = self.fetch_token()
        TOKENS.put(self._token_key(), value, expires_in)
        return value

    def fetch_token(self) -> tuple[str, float]:
        call = f"token request ({self.describe('POST', self.token_url)})"
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.post(
                    self.token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self.client_secret),
                )
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                if attempt < self.max_attempts:
                    self._backoff(call, attempt, problem)
                    continue
                raise PlatformError(self.platform, call, f"{problem} after {attempt} attempts") from error
            if response.status_code in RETRY_STATUSES and attempt < self.max_attempts:
                self._backoff(call, attempt, f"HTTP {response.status_code}", wait=retry_after_seconds(response))
                continue
            if response.status_code != 200:
                raise PlatformError(
                    self.platform,
                    call,
                    f"HTTP {response.status_code}{_detail(response)} (check the client id and secret)",
                    status=response.status_code,
                )
            body = self.json(response, call)
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise PlatformError(self.platform, call, "the answer has no access_token")
            expires_in = body.get("expires_in")
            if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
                expires_in = 3600  # the usual lifetime when the platform does not say
            return token, float(expires_in)


def _detail(response: httpx.Response) -> str:
    """A short hint from an error body (the platforms put a message in different fields).

    The hint ends up in logs, audit rows and API answers, so the credentials the request carried are
    cut out of it first: a platform that echoes the token or client secret it refused leaks nothing.
    """
    try:
        body = response.json()
    except ValueError:
        text = _without_credentials(response.text.strip(), response)
        return f" ({text[:200]})" if text else ""
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f" ({_without_credentials(value, response)[:200]})"
    return ""


def _without_credentials(text: str, response: httpx.Response) -> str:
    try:
        authorization = response.request.headers.get("Authorization", "")
    except RuntimeError:  # a response built without a request (tests)
        return text
    scheme, _, credentials = authorization.partition(" ")
    hidden = [credentials]
    if scheme.lower() == "basic":
        try:
            user_password = base64.b64decode(credentials).decode()
        except (binascii.Error, UnicodeDecodeError):
            user_password = ""
        hidden += [user_password, user_password.partition(":")[2]]
    for value in sorted(filter(None, hidden), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return text
