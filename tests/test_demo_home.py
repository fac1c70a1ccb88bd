"""The demo home: its battery is a device and the Energy dashboard's battery."""

import json
from pathlib import Path

from devtools.homeassistant_process import prepare_config


def test_demo_home_has_the_battery_device_and_the_energy_dashboard(
    tmp_path: Path,
) -> None:
    prepare_config(tmp_path, 8123)
    custom = tmp_path / "custom_components"
    assert (custom / "demo_battery" / "manifest.json").exists()
    assert (custom / "flatpeak" / "manifest.json").exists()
    energy = json.loads((tmp_path / ".storage" / "energy").read_text())
    (battery,) = energy["data"]["energy_sources"]
    assert battery["stat_soc"] == "sensor.demo_battery_state_of_charge"
    assert battery["stat_rate"] == "sensor.demo_battery_power"
    assert battery["capacity"] == 13.5
    configuration = (tmp_path / "configuration.yaml").read_text()
    assert "\ndemo_battery:\n" in configuration
    assert "\nenergy:\n" in configuration

    # A dashboard the user changed is kept.
    (tmp_path / ".storage" / "energy").write_text('{"data": {}}')
    prepare_config(tmp_path, 8123)
    assert json.loads((tmp_path / ".storage" / "energy").read_text()) == {"data": {}}
