"""Async client for the Flatpeak API (no Home Assistant imports)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
import logging
import math
import re
import time
from typing import Any

import aiohttp
from yarl import URL

from .exceptions import (
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakResponseError,
    FlatpeakRetryableError,
    FlatpeakTimeoutError,
)
from .fields import parse_time
from .models import Device, DeviceState, DeviceStateRecord, Token
from .reads import ReadEndpoints
from .responses import decode_json, decode_json_object, error_from_response
from .urls import api_url_is_safe, join_path

__version__ = "0.2.0"

# The API version the client is written for, sent as ``Flatpeak-Version``.
API_VERSION = "2026-08-01.busbar"
DEFAULT_BASE_URL = "https://api.flatpeak.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_TOKEN_LIFETIME = 3600.0
# Refresh this long before the token expires (or a tenth of its life if shorter).
TOKEN_REFRESH_MARGIN = 60.0
USER_AGENT = f"HomeAssistant-Flatpeak/{__version__}"
TOKEN_KEYS = ("bearer_token", "token", "access_token")
# What may follow "Bearer " in a header: visible ASCII, no space, no control.
_TOKEN_CHARS = re.compile(r"[!-~]+")

_LOGGER = logging.getLogger(__name__)


def _utcnow() -> datetime:
    """Return the wall clock's time (the default of ``utcnow``)."""
    return datetime.now(UTC)


class FlatpeakClient(ReadEndpoints):
    """Talks to the Flatpeak API with a cached bearer token.

    Every request, the token's included, pins the API version with
    ``Flatpeak-Version: API_VERSION`` (``api_version=None`` sends none: the
    account's default version answers). The read endpoints are in ``reads``.

    The caller owns the ``aiohttp.ClientSession``. The secret key and the token
    never appear in a log line, a ``repr`` or an exception. Every failure is a
    ``FlatpeakError`` (see ``responses`` for which one); the only other
    exception is ``ValueError`` for an ID that is not a single path segment
    (or a read's argument the API would refuse), raised before anything is sent.

    ``clock`` (monotonic seconds) times the token's life; ``utcnow`` (aware
    wall-clock time) reads ``expires_at``, and HTTP-date ``Retry-After`` values
    of answers without a ``Date`` header.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account_id: str,
        secret_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        user_agent: str = USER_AGENT,
        clock: Callable[[], float] = time.monotonic,
        utcnow: Callable[[], datetime] = _utcnow,
        api_version: str | None = API_VERSION,
    ) -> None:
        """Initialise the client; nothing is sent until a method is called.

        Raise ``ValueError`` for a base URL that would send the credentials in
        clear text over a network (see ``api_url_is_safe``).
        """
        if not api_url_is_safe(base_url):
            raise ValueError("The API URL must be https:// (or http:// to loopback)")
        self._session = session
        self._basic_auth = "Basic " + base64.b64encode(
            f"{account_id}:{secret_key}".encode()
        ).decode("ascii")
        self._base_url = URL(base_url.rstrip("/") + "/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._user_agent = user_agent
        self._api_version = api_version
        self._clock = clock
        self._utcnow = utcnow
        self._token: Token | None = None
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        """Return a representation without credentials."""
        return f"FlatpeakClient(base_url={str(self._base_url)!r})"

    @property
    def base_url(self) -> str:
        """Return the API base URL."""
        return str(self._base_url).rstrip("/")

    async def authenticate(self) -> None:
        """Get a fresh bearer token; raise ``FlatpeakAuthenticationError`` if refused."""
        async with self._token_lock:
            self._token = await self._request_token()

    async def get_device(self, device_id: str) -> Device:
        """Return the device ``device_id`` (``GET /devices/{device_id}``)."""
        url = join_path(self._base_url, "devices", device_id)
        return await self._fetch("device", Device.from_json, "GET", url)

    async def submit_device_state(
        self, device_id: str, state: DeviceState
    ) -> DeviceStateRecord:
        """Submit a device state (``PUT /devices/{device_id}/state``).

        Never raises once the API answered 2xx: Flatpeak has the record. A body
        that cannot be read gives a record with what could be read.
        """
        url = join_path(self._base_url, "devices", device_id, "state")
        body = await self._authorized("PUT", url, json_body=state.to_json())
        try:
            return DeviceStateRecord.from_json(decode_json_object(body))
        except (TypeError, ValueError) as err:
            _LOGGER.debug(
                "Flatpeak accepted the state of %s with an unexpected body (%s)",
                device_id,
                err,
            )
        try:
            data: Any = decode_json(body)
        except ValueError:
            data = None
        return DeviceStateRecord.from_partial_json(
            data, device_id=device_id, now=self._utcnow()
        )

    async def _get_token(self) -> Token:
        async with self._token_lock:
            token = self._token
            if token is None or self._clock() >= token.expires_at:
                token = self._token = await self._request_token()
            return token

    def _drop_token(self, token: Token) -> None:
        if self._token is token:
            self._token = None

    async def _request_token(self) -> Token:
        _LOGGER.debug("Requesting a Flatpeak bearer token")
        issued = self._clock()
        body = await self._send(
            "POST",
            join_path(self._base_url, "auth", "tokens"),
            authorization=self._basic_auth,
            token_endpoint=True,
        )
        try:
            data = decode_json(body)
        except ValueError:
            raise FlatpeakResponseError("Token response is not JSON") from None
        if not isinstance(data, Mapping):
            raise FlatpeakResponseError("Token response is not a JSON object")
        value = next(
            (data[k] for k in TOKEN_KEYS if isinstance(data.get(k), str) and data[k]),
            None,
        )
        if value is None:
            raise FlatpeakResponseError("Token response carries no token")
        if not _TOKEN_CHARS.fullmatch(value):
            raise FlatpeakResponseError(
                "Token response carries a token that cannot be sent in a header"
            )
        lifetime = self._token_lifetime(data)
        margin = min(TOKEN_REFRESH_MARGIN, lifetime / 10)
        return Token(value, issued + lifetime - margin)

    def _token_lifetime(self, data: Mapping[str, Any]) -> float:
        expires_in = data.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            if 0 < expires_in < math.inf:
                return float(expires_in)
        if isinstance(expires_at := data.get("expires_at"), str):
            try:
                remaining = (parse_time(expires_at) - self._utcnow()).total_seconds()
            except (TypeError, ValueError, OverflowError):
                pass
            else:
                if remaining > 0:
                    return remaining
        return DEFAULT_TOKEN_LIFETIME

    async def _authorized(
        self, method: str, url: URL, *, json_body: Any = None
    ) -> bytes | None:
        """Send a request with the bearer token; on 401 refresh it once and retry."""
        token = await self._get_token()
        try:
            return await self._send(
                method, url, authorization=f"Bearer {token.value}", json_body=json_body
            )
        except FlatpeakAuthenticationError:
            _LOGGER.debug("Token refused by the API; requesting a new one")
            self._drop_token(token)
        token = await self._get_token()
        return await self._send(
            method, url, authorization=f"Bearer {token.value}", json_body=json_body
        )

    async def _send(
        self,
        method: str,
        url: URL,
        *,
        authorization: str,
        json_body: Any = None,
        token_endpoint: bool = False,
    ) -> bytes | None:
        """Send one request; return the body of a 2xx (``None`` if unreadable).

        Raise the ``FlatpeakError`` any other answer, or no answer, means.
        """
        headers = {
            "User-Agent": self._user_agent,
            "Accept": "application/json",
            "Authorization": authorization,
        }
        if self._api_version is not None:
            headers["Flatpeak-Version"] = self._api_version
        _LOGGER.debug("%s %s", method, url.raw_path)
        status: int | None = None
        retry_after: str | None = None
        date: str | None = None
        body: bytes | None = None
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                json=json_body,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                date = response.headers.get("Date")
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as err:
            if status is None:
                raise _transport_error(err, url) from None
            _LOGGER.debug(
                "%s %s: body of the %s answer lost", method, url.raw_path, status
            )
        _LOGGER.debug("%s %s answered %s", method, url.raw_path, status)
        if 200 <= status < 300:
            return body
        raise error_from_response(
            status,
            body,
            retry_after,
            now=self._utcnow(),
            token_endpoint=token_endpoint,
            date=date,
        )


def _transport_error(err: BaseException, url: URL) -> FlatpeakError:
    """Return the error for a request that got no answer at all."""
    if isinstance(err, TimeoutError):
        return FlatpeakTimeoutError(
            f"Timed out talking to the Flatpeak API at {url.host}"
        )
    if isinstance(err, aiohttp.ClientError | OSError):
        return FlatpeakConnectionError(
            f"Cannot reach the Flatpeak API at {url.host}: {type(err).__name__}"
        )
    return FlatpeakRetryableError(
        f"The request to the Flatpeak API at {url.host} could not be sent: "
        f"{type(err).__name__}"
    )
