"""The busbar read endpoints: what Flatpeak holds about a device, prices, schedules.

``FlatpeakClient`` mixes these in; each one sends through the client's
``_authorized`` (bearer token, one refresh on 401, the version header) and
raises what ``responses`` decides. Two outcomes are particular to reads: a 422
saying that no price is available is ``FlatpeakPriceUnavailableError``, and a
body the models cannot read is ``FlatpeakResponseError``. Arguments the API
would refuse (a reversed or too long window) raise ``ValueError`` before
anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
import logging
from typing import Any

from yarl import URL

from .exceptions import FlatpeakError, FlatpeakResponseError
from .fields import optional_bool, optional_str, required_list
from .models import format_time
from .price_models import PriceSeries, Schedule, ScheduleSegment, TariffDirection
from .read_models import DeviceStateReading, Location, VppParticipation
from .responses import decode_json_object
from .urls import join_path

MAX_PRICE_WINDOW = timedelta(days=90)
MAX_SCHEDULE_WINDOW = timedelta(days=3)
# A device has a handful of participations; more pages than this is a loop.
MAX_LIST_PAGES = 10
# POST /prices answers these when it does not exist (the older path variant).
_NO_SUCH_ROUTE = (404, 405)

_LOGGER = logging.getLogger(__name__)


def _identifier(value: Any, what: str) -> str:
    """Return ``value`` if it is usable as an ID in a query or a body."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"Unusable {what}: {value!r}")
    return value


def _window(start: datetime, end: datetime, longest: timedelta) -> None:
    """Refuse a window the API would: reversed, empty or longer than ``longest``."""
    if not start < end:
        raise ValueError("The window must end after it starts")
    if end - start > longest:
        raise ValueError(f"The window must not be longer than {longest.days} days")


class ReadEndpoints:
    """``GET``/``POST`` reads of busbar, mixed into ``FlatpeakClient``."""

    _base_url: URL
    # Which price endpoint works: None unknown, False the body, True the path.
    _prices_in_path: bool | None = None

    async def _authorized(
        self, method: str, url: URL, *, json_body: Any = None
    ) -> bytes | None:
        raise NotImplementedError

    async def _fetch[T](
        self,
        what: str,
        parse: Callable[[Mapping[str, Any]], T],
        method: str,
        url: URL,
        json_body: Any = None,
    ) -> T:
        """Send one request and parse its JSON object with ``parse``."""
        body = await self._authorized(method, url, json_body=json_body)
        try:
            return parse(decode_json_object(body))
        except (TypeError, ValueError) as err:
            raise FlatpeakResponseError(
                f"Unexpected {what} response from the Flatpeak API: {err}"
            ) from None

    async def get_device_state(self, device_id: str) -> DeviceStateReading:
        """Return the latest state Flatpeak holds (``GET /devices/{id}/state``)."""
        return await self._fetch(
            "device state",
            lambda data: DeviceStateReading.from_json(data, device_id=device_id),
            "GET",
            join_path(self._base_url, "devices", device_id, "state"),
        )

    async def get_location(self, location_id: str) -> Location:
        """Return the location ``location_id`` (``GET /locations/{id}``)."""
        return await self._fetch(
            "location",
            Location.from_json,
            "GET",
            join_path(self._base_url, "locations", location_id),
        )

    async def list_vpp_participations(
        self, device_id: str, *, max_pages: int = MAX_LIST_PAGES
    ) -> tuple[VppParticipation, ...]:
        """Return the device's participations (``GET /vpp-participations``).

        Follows ``has_more`` with ``starting_after`` for at most ``max_pages``
        pages, in the API's order (newest first); an item without an ``id``
        is skipped.
        """
        query = {"device_id": _identifier(device_id, "device ID")}
        url = join_path(self._base_url, "vpp-participations")
        found: dict[str, VppParticipation] = {}
        cursor: str | None = None
        for _ in range(max_pages):
            if cursor is not None:
                query["starting_after"] = cursor
            items, has_more, last_id = await self._fetch(
                "VPP participation list",
                _participation_page,
                "GET",
                url.with_query(query),
            )
            for item in items:
                found.setdefault(item.id, item)
            if not has_more or last_id is None or last_id == cursor:
                return tuple(found.values())
            cursor = last_id
        _LOGGER.debug("Stopped listing VPP participations after %s pages", max_pages)
        return tuple(found.values())

    async def get_prices(
        self,
        location_id: str,
        *,
        start: datetime,
        end: datetime,
        device_id: str | None = None,
        direction: TariffDirection | str = TariffDirection.IMPORT,
    ) -> PriceSeries:
        """Return the prices over ``[start, end)`` (at most 90 days).

        ``POST /prices`` with ``location_id`` in the body; if that endpoint
        does not exist (404/405), the older ``POST /prices/{location_id}``
        (without ``device_id``), and the client keeps using the one that
        answered. A 422 ``no_tariff_connected`` / ``pending_connect`` /
        ``no_price_data`` is ``FlatpeakPriceUnavailableError``.
        """
        _identifier(location_id, "location ID")
        _window(start, end, MAX_PRICE_WINDOW)
        path_body = {
            "start_time": format_time(start),
            "end_time": format_time(end),
            "tariff_direction": TariffDirection(direction).value,
        }
        if self._prices_in_path is not True:
            body: dict[str, Any] = {"location_id": location_id}
            if device_id is not None:
                body["device_id"] = _identifier(device_id, "device ID")
            try:
                prices = await self._fetch(
                    "price",
                    PriceSeries.from_json,
                    "POST",
                    join_path(self._base_url, "prices"),
                    {**body, **path_body},
                )
            except FlatpeakError as err:
                if err.status in (400, 422):  # it read the body: it exists
                    self._prices_in_path = False
                if self._prices_in_path is False or err.status not in _NO_SUCH_ROUTE:
                    raise
                _LOGGER.debug("POST /prices answered %s; trying the path", err.status)
            else:
                self._prices_in_path = False
                return prices
        prices = await self._fetch(
            "price",
            PriceSeries.from_json,
            "POST",
            join_path(self._base_url, "prices", location_id),
            path_body,
        )
        self._prices_in_path = True
        return prices

    async def find_schedule_by_duration(
        self,
        location_id: str,
        *,
        start: datetime,
        end: datetime,
        duration_minutes: int,
        segment: ScheduleSegment | str = ScheduleSegment.LOW,
        device_id: str | None = None,
        direction: TariffDirection | str = TariffDirection.IMPORT,
    ) -> Schedule:
        """Return the cheapest (``LOW``) or dearest (``HIGH``) slots in a window.

        ``POST /schedules/duration``: ``duration_minutes`` of slots within
        ``[start, end)`` (at most 3 days), possibly in several pieces.
        """
        _identifier(location_id, "location ID")
        _window(start, end, MAX_SCHEDULE_WINDOW)
        if (
            isinstance(duration_minutes, bool)
            or not isinstance(duration_minutes, int)
            or not 0 < duration_minutes * 60 <= (end - start).total_seconds()
        ):
            raise ValueError("duration_minutes must be whole minutes within the window")
        body: dict[str, Any] = {
            "location_id": location_id,
            "start_time": format_time(start),
            "end_time": format_time(end),
            "segment": ScheduleSegment(segment).value,
            "duration": duration_minutes,
            "tariff_direction": TariffDirection(direction).value,
        }
        if device_id is not None:
            body["device_id"] = _identifier(device_id, "device ID")
        return await self._fetch(
            "schedule",
            Schedule.from_json,
            "POST",
            join_path(self._base_url, "schedules", "duration"),
            body,
        )


def _participation_page(
    data: Mapping[str, Any],
) -> tuple[list[VppParticipation], bool, str | None]:
    """Return a list page's participations, ``has_more`` and its last item's ID."""
    items = [
        item
        for item in required_list(data, "data", "list")
        if isinstance(item, Mapping)
    ]
    parsed = [
        VppParticipation.from_json(item) for item in items if optional_str(item, "id")
    ]
    last_id = optional_str(items[-1], "id") if items else None
    return parsed, optional_bool(data, "has_more") is True, last_id
