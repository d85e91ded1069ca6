"""HTTP for the acquisition: retrying, byte-counting ``requests`` sessions.

Configuration of well-kept libraries: ``requests`` sessions with urllib3's ``Retry`` mounted
through ``HTTPAdapter`` (exponential backoff, ``Retry-After``, :data:`RETRY_STATUS`), a timeout
and a count of the bytes received (:func:`http_session`, :class:`HttpClient`). One
:class:`RetryPolicy` drives urllib3 here and GDAL's COG reads
(:func:`soilnet.acquire.rasters.gdal_options`).
"""

from __future__ import annotations

import inspect
import math
import threading
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from soilnet.errors import EndpointUnreachableError, HttpError

#: HTTP status codes retried with backoff (timeouts, rate limiting, server errors).
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient HTTP failure.

    The same policy drives urllib3 (STAC, tokens, TerraClimate files) and GDAL (COG reads).

    Attributes:
        retries: extra attempts after the first (so ``retries + 1`` in all).
        backoff_s: urllib3's backoff factor: retry ``n`` (1-based) waits
            ``backoff_s * 2**(n - 1)`` s plus up to 25 % jitter, except that urllib3 retries
            once at once (no wait before the first retry); GDAL waits ``backoff_s`` and then
            doubles.
        max_backoff_s: upper bound of one wait, in seconds; also caps a server's
            ``Retry-After`` (urllib3 >= 2.6).
        timeout_s: connect/read timeout of one request, in seconds.
    """

    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError(
                f"RetryPolicy needs retries >= 0, backoff_s >= 0 and timeout_s > 0; got {self!r}."
            )

    def urllib3_retry(self) -> Retry:
        """The policy as urllib3's ``Retry`` (for ``HTTPAdapter(max_retries=...)``)."""
        extra = {}
        if "retry_after_max" in inspect.signature(Retry.__init__).parameters:  # urllib3 >= 2.6
            extra["retry_after_max"] = max(1, int(math.ceil(self.max_backoff_s)))
        return Retry(
            total=self.retries,
            backoff_factor=self.backoff_s,
            backoff_max=self.max_backoff_s,
            backoff_jitter=self.backoff_s / 4,
            status_forcelist=RETRY_STATUS,
            allowed_methods=None,  # a STAC search POST is a read: retry it like a GET
            raise_on_status=False,  # hand back the last answer so its status can be reported
            respect_retry_after_header=True,
            **extra,
        )

    def gdal_options(self) -> dict[str, str]:
        """The same policy as GDAL configuration options for ``/vsicurl/`` reads."""
        return {
            "GDAL_HTTP_MAX_RETRY": str(self.retries),
            "GDAL_HTTP_RETRY_DELAY": f"{self.backoff_s:g}",
            "GDAL_HTTP_TIMEOUT": str(max(1, int(math.ceil(self.timeout_s)))),
            "GDAL_HTTP_CONNECTTIMEOUT": str(max(1, int(math.ceil(min(self.timeout_s, 30.0))))),
        }


class _ByteCounter:
    """A thread-safe running total, fed by a ``requests`` response hook."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response, *args, **kwargs) -> None:
        n = len(response.content)
        with self._lock:
            self.total += n


def http_session(
    policy: RetryPolicy,
    counter: _ByteCounter | None = None,
    *,
    pool_size: int = 10,
    session: requests.Session | None = None,
    user_agent: str = "soilnet-acquire",
) -> requests.Session:
    """A ``requests`` session retrying by ``policy`` (urllib3 ``Retry`` on an ``HTTPAdapter``).

    Args:
        policy: the retry policy (the timeout is passed per request by the caller).
        counter: receives every final response, to count the bytes received.
        pool_size: connections kept per host; at least the number of threads sharing it, or
            urllib3 discards the surplus connections.
        session: configure this session instead of a new one.
        user_agent: the ``User-Agent`` header sent.
    """
    session = session or requests.Session()
    adapter = HTTPAdapter(max_retries=policy.urllib3_retry(), pool_maxsize=max(10, pool_size))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    if counter is not None:
        session.hooks["response"].append(counter)
    return session


class HttpClient:
    """Plain HTTP requests (TerraClimate files) on a retrying :func:`http_session`.

    Args:
        policy: the retry policy.
    """

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self._counter = _ByteCounter()
        self.session = http_session(self.policy, self._counter)

    @property
    def bytes_received(self) -> int:
        """Response body bytes received so far (final answers; retried ones are not counted)."""
        return self._counter.total

    def request(self, method: str, url: str, *, what: str, **kwargs) -> requests.Response:
        """Send a request; urllib3 retries transient failures with backoff.

        Args:
            method: ``"GET"``, ``"POST"``, ...
            url: the URL.
            what: a few words naming the purpose, used in error messages.
            **kwargs: passed to :meth:`requests.Session.request` (``headers=``, ...).

        Returns:
            The response, with a status below 400.

        Raises:
            HttpError: a non-retryable status (e.g. 404), or a retryable one on every attempt.
            EndpointUnreachableError: no connection could be made on any attempt.
        """
        attempts = self.policy.retries + 1
        try:
            response = self.session.request(method, url, timeout=self.policy.timeout_s, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as err:
            detail = describe(err)
            raise EndpointUnreachableError(
                f"{what}: cannot reach {url} ({detail}) after {attempts} attempt(s). Check the "
                "internet connection, any proxy (HTTPS_PROXY / HTTP_PROXY) and that the URL is "
                "right.",
                url,
                None,
                detail,
            ) from err
        status = response.status_code
        if status < 400:
            return response
        if status in RETRY_STATUS:
            raise HttpError(
                f"{what}: {method} {url} answered HTTP {status} on all {attempts} attempt(s); "
                "the service may be down or rate-limiting. Re-run later: finished points are kept.",
                url,
                status,
            )
        raise HttpError(
            f"{what}: {method} {url} answered HTTP {status} ({_snippet(response.text)}). Check "
            "the URL and the service's documentation.",
            url,
            status,
        )


def describe(exc: BaseException | None) -> str:
    """The innermost reason of a requests/urllib3 error, on one line."""
    reason = exc
    for _ in range(4):  # requests.ConnectionError -> urllib3 MaxRetryError -> the cause
        inner = getattr(reason, "reason", None) or (
            reason.args[0] if getattr(reason, "args", None) else None
        )
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return " ".join(f"{type(reason).__name__}: {reason}".split())


def _snippet(text: str, n: int = 160) -> str:
    return " ".join(text[:n].split()) or "no body"
