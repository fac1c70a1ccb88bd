"""Async client for the Flatpeak API (no Home Assistant imports)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import ipaddress
import json
import logging
import time
from typing import Any

import aiohttp
from yarl import URL

from .exceptions import (
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakRateLimitError,
    FlatpeakResponseError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    FlatpeakValidationError,
)
from .models import Device, DeviceState, DeviceStateRecord, Token, parse_time

__version__ = "0.2.0"

DEFAULT_BASE_URL = "https://api.flatpeak.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_TOKEN_LIFETIME = 3600.0
# Refresh this long before the token expires (or a tenth of its life if shorter).
TOKEN_REFRESH_MARGIN = 60.0
USER_AGENT = f"HomeAssistant-Flatpeak/{__version__}"

_LOGGER = logging.getLogger(__name__)


def api_url_is_safe(url: str) -> bool:
    """Return whether credentials may be sent to ``url``.

    Only ``https://`` is accepted, except ``http://`` to a loopback host (the
    local sandbox): credentials never cross a network in clear text.
    """
    try:
        parsed = URL(url)
    except ValueError:
        return False
    if not parsed.host or parsed.user or parsed.password or parsed.query_string:
        return False
    if parsed.scheme == "https":
        return True
    if parsed.scheme != "http":
        return False
    if parsed.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.host).is_loopback
    except ValueError:
        return False


def parse_retry_after(
    value: str | None, *, now: datetime | None = None
) -> float | None:
    """Parse ``Retry-After`` (delay in seconds or an HTTP date) into seconds."""
    if value is None or not (value := value.strip()):
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class FlatpeakClient:
    """Talks to the Flatpeak API with a cached bearer token.

    The caller owns the ``aiohttp.ClientSession``. The secret key and the token
    never appear in a log line, a ``repr`` or an exception.
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
        self._clock = clock
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
        data = await self._authorized("GET", ("devices", device_id))
        try:
            return Device.from_json(_mapping(data))
        except (TypeError, ValueError) as err:
            raise FlatpeakResponseError(
                f"Unexpected device response from the Flatpeak API: {err}"
            ) from None

    async def submit_device_state(
        self, device_id: str, state: DeviceState
    ) -> DeviceStateRecord:
        """Submit a device state (``PUT /devices/{device_id}/state``)."""
        data = await self._authorized(
            "PUT", ("devices", device_id, "state"), body=state.to_json()
        )
        try:
            return DeviceStateRecord.from_json(_mapping(data))
        except (TypeError, ValueError) as err:
            raise FlatpeakResponseError(
                f"Unexpected device state response from the Flatpeak API: {err}"
            ) from None

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
        try:
            data = await self._send(
                "POST", ("auth", "tokens"), authorization=self._basic_auth
            )
        except FlatpeakAuthenticationError:
            raise
        except FlatpeakError as err:
            if err.status == 403:
                raise FlatpeakAuthenticationError(
                    err.message, code=err.code, status=err.status
                ) from None
            raise
        if not isinstance(data, Mapping):
            raise FlatpeakResponseError("Token response is not a JSON object")
        value = next(
            (
                data[key]
                for key in ("bearer_token", "token", "access_token")
                if isinstance(data.get(key), str) and data[key]
            ),
            None,
        )
        if value is None:
            raise FlatpeakResponseError("Token response carries no token")
        lifetime = _token_lifetime(data)
        margin = min(TOKEN_REFRESH_MARGIN, lifetime / 10)
        return Token(value, issued + lifetime - margin)

    async def _authorized(
        self, method: str, path: tuple[str, ...], *, body: Any = None
    ) -> Any:
        """Send a request with the bearer token; on 401 refresh it once and retry."""
        token = await self._get_token()
        try:
            return await self._send(
                method, path, authorization=f"Bearer {token.value}", body=body
            )
        except FlatpeakAuthenticationError:
            _LOGGER.debug("Token refused by the API; requesting a new one")
            self._drop_token(token)
        token = await self._get_token()
        return await self._send(
            method, path, authorization=f"Bearer {token.value}", body=body
        )

    async def _send(
        self,
        method: str,
        path: tuple[str, ...],
        *,
        authorization: str,
        body: Any = None,
    ) -> Any:
        url = self._base_url.joinpath(*path, encoded=False)
        headers = {
            "User-Agent": self._user_agent,
            "Accept": "application/json",
            "Authorization": authorization,
        }
        _LOGGER.debug("%s %s", method, url.path)
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                json=body,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                text = await response.text()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise FlatpeakTimeoutError(
                f"Timed out talking to the Flatpeak API at {url.host}"
            ) from None
        except aiohttp.ClientError as err:
            raise FlatpeakConnectionError(
                f"Cannot reach the Flatpeak API at {url.host}: {type(err).__name__}"
            ) from None
        _LOGGER.debug("%s %s answered %s", method, url.path, status)
        if 200 <= status < 300:
            try:
                return json.loads(text) if text else None
            except ValueError:
                raise FlatpeakResponseError(
                    f"The Flatpeak API answered {status} with a body that is not JSON",
                    status=status,
                ) from None
        raise _error_from_response(status, text, retry_after)


def _mapping(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _token_lifetime(data: Mapping[str, Any]) -> float:
    expires_in = data.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        if expires_in > 0:
            return float(expires_in)
    if isinstance(expires_at := data.get("expires_at"), str):
        try:
            remaining = (parse_time(expires_at) - datetime.now(UTC)).total_seconds()
        except ValueError:
            pass
        else:
            if remaining > 0:
                return remaining
    return DEFAULT_TOKEN_LIFETIME


def _error_from_response(
    status: int, text: str, retry_after: str | None
) -> FlatpeakError:
    """Map a non-2xx answer and its error envelope to an exception."""
    code: str | None = None
    message = f"The Flatpeak API answered HTTP {status}"
    try:
        envelope = json.loads(text) if text else None
    except ValueError:
        envelope = None
    if isinstance(envelope, Mapping):
        if isinstance(envelope.get("code"), str):
            code = envelope["code"]
        if isinstance(envelope.get("message"), str) and envelope["message"]:
            message = envelope["message"]
    kwargs: dict[str, Any] = {"code": code, "status": status}
    if status == 401:
        return FlatpeakAuthenticationError(message, **kwargs)
    if status == 404:
        return FlatpeakNotFoundError(message, **kwargs)
    if status in (400, 422):
        return FlatpeakValidationError(message, **kwargs)
    if status == 429:
        return FlatpeakRateLimitError(
            message, retry_after=parse_retry_after(retry_after), **kwargs
        )
    if status >= 500:
        return FlatpeakServerError(
            message, retry_after=parse_retry_after(retry_after), **kwargs
        )
    return FlatpeakError(message, **kwargs)
