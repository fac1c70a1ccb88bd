"""Constants for the Flatpeak integration."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "flatpeak"
LOGGER = logging.getLogger(__package__)

# Config entry data: the Flatpeak account (its credentials and API URL).
CONF_ACCOUNT_ID: Final = "account_id"
CONF_SECRET_KEY: Final = "secret_key"  # noqa: S105
CONF_API_URL: Final = "api_url"

# The subentry of each Flatpeak device of the account. Its data: the device ID
# (``CONF_DEVICE_ID``), the battery mapping and the submission settings below,
# flat, with the keys a 0.2.0 entry kept in its options.
SUBENTRY_DEVICE: Final = "device"

# Device subentry data: the battery mapping.
CONF_SOC_ENTITY: Final = "state_of_charge_entity"
CONF_TARGET_SOC_ENTITY: Final = "target_state_of_charge_entity"
CONF_TARGET_SOC_PERCENT: Final = "target_state_of_charge_percent"
CONF_POWER_ENTITY: Final = "battery_power_entity"
CONF_POWER_SIGN: Final = "battery_power_sign"
CONF_ENERGY_ENTITY: Final = "energy_remaining_entity"
CONF_RESERVE_ENTITY: Final = "backup_reserve_entity"
CONF_RESERVE_PERCENT: Final = "backup_reserve_percent"

# Device subentry data: behaviour.
CONF_SUBMIT_ON_CHANGE: Final = "submit_on_change"
CONF_MIN_INTERVAL: Final = "min_interval"
CONF_HEARTBEAT_INTERVAL: Final = "heartbeat_interval"
CONF_OUTBOX_MAX_AGE: Final = "outbox_max_age"
CONF_OUTBOX_MAX_RECORDS: Final = "outbox_max_records"

DEFAULT_SUBMIT_ON_CHANGE: Final = True
DEFAULT_MIN_INTERVAL: Final = 30  # seconds
DEFAULT_HEARTBEAT_INTERVAL: Final = 5  # minutes
DEFAULT_OUTBOX_MAX_AGE: Final = 24  # hours
DEFAULT_OUTBOX_MAX_RECORDS: Final = 10_000

# A burst of state changes (one inverter update touches several sensors within
# milliseconds) is coalesced into one snapshot taken this long after its first change.
COALESCE_DELAY: Final = timedelta(milliseconds=500)
# Exponential backoff with jitter after every failure but a 429/503 with
# Retry-After: the n-th failure in a row waits between BACKOFF_MIN * 2**(n-1)
# and twice that (5-10 s, 10-20 s, ...), never less than BACKOFF_MIN (its
# floor) nor more than BACKOFF_MAX (from the 7th failure: 5-10 minutes).
BACKOFF_MIN: Final = 5.0  # seconds
BACKOFF_MAX: Final = 600.0  # seconds
# A Retry-After (429, 503) is followed between these bounds: 0, a negative
# number or a past date is the floor; a wild value must not stop delivery.
RETRY_AFTER_MIN: Final = 1.0  # seconds: also the least wait after any failure
RETRY_AFTER_MAX: Final = 3600.0  # seconds
# While paused for something only the user can fix, Flatpeak is asked again on
# its own: an unknown device or a wrong API URL after 1 min, doubling up to 1 h;
# refused credentials once an hour.
RECHECK_FIRST: Final = 60.0  # seconds
RECHECK_MAX: Final = 3600.0  # seconds
RECHECK_CREDENTIALS: Final = 3600.0  # seconds
# After a 429 a backlog is sent at a limited rate: halved by each 429, raised by a
# step every second while Flatpeak accepts (AIMD); back to back again above a rate.
RATE_AFTER_429: Final = 4.0  # records per second after the first 429
RATE_MIN: Final = 0.1  # records per second
RATE_STEP: Final = 0.5  # records per second, added every second
RATE_UNLIMITED: Final = 10.0  # records per second: back to back from here
# After an outage (and at start) the backlog, not the current state, waits a
# random delay up to this, so that homes recovering from one Flatpeak outage do
# not all drain in the same second.
BACKLOG_DELAY_MAX: Final = 30.0  # seconds
# The entities are updated at most this often (a draining backlog, repeated failures).
STATUS_THROTTLE: Final = 1.0  # seconds
# While Flatpeak keeps accepting, Last submission advances at most this often
# (one logbook entry an hour, not one per submission).
LAST_SUBMISSION_STEP: Final = timedelta(hours=1)
# How long the action waits for its record to be delivered.
ACTION_TIMEOUT: Final = 60.0  # seconds
# How long an account's setup waits for its token; an outage does not fail the
# setup (records are queued), refused credentials do (re-authentication).
SETUP_TOKEN_TIMEOUT: Final = 10.0  # seconds

SERVICE_SUBMIT_DEVICE_STATE: Final = "submit_device_state"
SERVICE_FIND_BEST_WINDOW: Final = "find_best_window"

# Account entry option: read what Flatpeak holds (its state of each device, the
# VPP programme, the prices). Off: no read request at all.
CONF_READ_FROM_FLATPEAK: Final = "read_from_flatpeak"
DEFAULT_READ_FROM_FLATPEAK: Final = True

# The request budget of the reads: at these defaults, all reads together cost
# at most 12 requests per hour per device in any 60 minutes, the first hour
# and failing reads included (tests/test_read_budget.py counts the worst hour).
# Per device: the state Flatpeak holds every 15 min, and only when a record
# was accepted since the last read (4/h); the VPP participations every 15 min
# (4/h). Per location, shared by its devices: the location once (at
# start, again only after a failure), the prices of each direction every 2 h,
# hourly while fewer than 12 h of slots are known ahead (1-2/h for both).
# The price shown changes at slot boundaries from memory: no request.
STATE_READ_INTERVAL: Final = timedelta(minutes=15)
VPP_READ_INTERVAL: Final = timedelta(minutes=15)
PRICE_READ_INTERVAL: Final = timedelta(hours=2)
PRICE_READ_INTERVAL_SHORT: Final = timedelta(hours=1)
PRICE_MIN_AHEAD: Final = timedelta(hours=12)
# The window asked for: from the start of the current hour, this far ahead.
PRICE_WINDOW: Final = timedelta(hours=48)
# The price sensors' attribute ``slots``: the coming slots, this far ahead of
# the current slot's start and at most this many (15-minute slots for a day).
PRICE_SLOTS_AHEAD: Final = timedelta(hours=24)
PRICE_SLOTS_MAX: Final = 96
# After a failed read (or a 422 "no price"), the next try waits 15 min (what
# Flatpeak asks for prices), doubling (30 min, 1 h) up to 2 h or the concern's
# own interval if longer: five reads failing cost at most 3 requests each in
# any hour, and prices are not asked while their location fails.
READ_RETRY_MIN: Final = timedelta(minutes=15)
READ_RETRY_MAX: Final = timedelta(hours=2)
# The submission status says "lagging" when the newest state Flatpeak holds is
# older than our last accepted record by more than this.
STATE_LAG_LIMIT: Final = timedelta(minutes=10)
# "Telemetry inactive" is a repair issue when a record was accepted this recently.
TELEMETRY_ISSUE_RECENT: Final = timedelta(hours=1)


class PowerSign(StrEnum):
    """What a positive value of the mapped battery power sensor means."""

    POSITIVE_DISCHARGING = "positive_discharging"
    POSITIVE_CHARGING = "positive_charging"


class SubmissionStatus(StrEnum):
    """The state of the submission status sensor."""

    OK = "ok"
    PENDING = "pending"
    WAITING_FOR_DATA = "waiting_for_data"
    INVALID_DATA = "invalid_data"
    RATE_LIMITED = "rate_limited"
    AUTH_FAILED = "auth_failed"
    WRONG_API_URL = "wrong_api_url"
    ERROR = "error"
    # Flatpeak accepts the records, but the newest state it holds lags behind.
    LAGGING = "lagging"


class ErrorCode(StrEnum):
    """The state of the last error sensor: what went wrong last, as a code."""

    NONE = "none"
    CANNOT_CONNECT = "cannot_connect"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    AUTH_FAILED = "auth_failed"
    WRONG_API_URL = "wrong_api_url"
    DEVICE_NOT_FOUND = "device_not_found"
    REJECTED = "rejected"
    INVALID_DATA = "invalid_data"
    WAITING_FOR_DATA = "waiting_for_data"
    UNEXPECTED_RESPONSE = "unexpected_response"
