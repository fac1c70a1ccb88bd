"""scripts/develop: Home Assistant with this integration, against the local sandbox.

Starts the Flatpeak sandbox and a real `hass` on the repo's config/ directory
(a demo home with a simulated battery), creates the owner account on first run,
prints how to log in and what to paste into the config flow, and runs until
Ctrl-C. Ports: FLATPEAK_HA_PORT (8123), FLATPEAK_SANDBOX_PORT (8765).
"""

from __future__ import annotations

import os
from pathlib import Path
import signal
import sys
import time

from flatpeak_sandbox import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_DEVICE_ID,
    DEFAULT_SECRET_KEY,
    DEMO_DEVICES,
)

from .homeassistant_process import (
    REPO,
    HomeAssistantProcess,
    Owner,
    SandboxProcess,
    prepare_config,
)

OWNER = Owner(username="demo", password="flatpeak-demo")


def demo_devices_text() -> str:
    """Return the demo batteries, one line each, for "Add device" on the account."""
    return "\n".join(
        f"                         {device_id}  ({fields['manufacturer']} {fields['model']})"
        for device_id, fields in DEMO_DEVICES.items()
    )


def main() -> int:
    """Run until interrupted."""
    ha_port = int(os.environ.get("FLATPEAK_HA_PORT", "8123"))
    sandbox_port = int(os.environ.get("FLATPEAK_SANDBOX_PORT", "8765"))
    config_dir = Path(os.environ.get("FLATPEAK_CONFIG_DIR", REPO / "config"))
    logs = config_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    sandbox = SandboxProcess(
        sandbox_port, logs / "sandbox.log", [DEFAULT_DEVICE_ID, *DEMO_DEVICES]
    )
    hass = HomeAssistantProcess(config_dir, ha_port, logs / "home-assistant.log")
    prepare_config(config_dir, ha_port)
    started = time.monotonic()
    sandbox.start()
    hass.start()
    try:
        hass.wait_until_ready()
        hass.ensure_owner(OWNER)
        print(
            f"""
Flatpeak for Home Assistant: development instance (ready in {time.monotonic() - started:.0f} s)

  Home Assistant   {hass.url}
  Log in as        {OWNER.username} / {OWNER.password}

  Add the integration: Settings -> Devices & services -> Add integration -> Flatpeak
    Account ID           {DEFAULT_ACCOUNT_ID}
    Secret key           {DEFAULT_SECRET_KEY}
    Advanced options -> API URL   {sandbox.url}
  then the first device:
    Flatpeak device ID   {DEFAULT_DEVICE_ID}
      more batteries (the account's page, Add device):
{demo_devices_text()}
  Then map the simulated battery:
    State of charge      sensor.demo_battery_state_of_charge
    Target               sensor.demo_battery_target (or a fixed percentage)
    Battery power        sensor.demo_battery_power (positive = discharging)
    Energy remaining     sensor.demo_battery_energy_remaining

  Sandbox page: {sandbox.url}/_sandbox  (JSON: {sandbox.url}/_sandbox/states)
    the states it received, and buttons for the faults to try: outage,
    refuse credentials, unknown device, next answer 429 / 503 / 422
  Logs: {logs}/home-assistant.log, {logs}/sandbox.log

Ctrl-C stops both.""",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        hass.stop()
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
