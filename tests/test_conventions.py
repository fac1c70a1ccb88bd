"""Home Assistant core's conventions that its lint plugins check, on our code."""

import ast
import inspect
from pathlib import Path
import re

import homeassistant.const as ha_const

from custom_components.flatpeak import const
from custom_components.flatpeak.account.runtime import FlatpeakConfigEntry
from custom_components.flatpeak.config_flow import FlatpeakConfigFlow

PACKAGE = Path(const.__file__).parent


def test_const_does_not_redefine_home_assistant_constants() -> None:
    """A name Home Assistant's const module has is imported from there."""
    ours = {name for name in vars(const) if name.isupper()}
    assert not ours & set(vars(ha_const))


def test_the_api_client_reads_the_clock_it_is_given() -> None:
    """No wall-clock read in the client but the injected default."""
    reads = [
        (path.name, line.strip())
        for path in sorted((PACKAGE / "api").glob("*.py"))
        for line in path.read_text().splitlines()
        if re.search(r"datetime\.(now|utcnow)\(", line)
    ]
    assert reads == [("client.py", "return datetime.now(UTC)")]


def test_subentry_types_hook_takes_our_typed_entry() -> None:
    hints = inspect.get_annotations(
        FlatpeakConfigFlow.async_get_supported_subentry_types, eval_str=True
    )
    assert hints["config_entry"] is FlatpeakConfigEntry


def _annotations(tree: ast.AST) -> list[ast.expr]:
    """Every annotation of an argument, a return or a variable in ``tree``."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            found.append(node.returns)
    return found


def test_an_entry_is_typed_flatpeak_config_entry() -> None:
    """No bare ``ConfigEntry`` annotation: ``FlatpeakConfigEntry`` says what it holds."""
    bare = [
        f"{path.name}:{annotation.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for annotation in _annotations(ast.parse(path.read_text()))
        for name in ast.walk(annotation)
        if isinstance(name, ast.Name) and name.id == "ConfigEntry"
    ]
    assert bare == []


def test_no_float_infinity_spelled_as_a_string() -> None:
    """``math.inf``, not ``float("inf")``."""
    spelled = [
        f"{path.name}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"float\(\s*[\"'][+-]?inf", line)
    ]
    assert spelled == []


def test_the_mapping_steps_are_a_real_flow_mixin() -> None:
    """A real base (no class swapped under TYPE_CHECKING), before each flow's own."""
    from homeassistant.config_entries import ConfigFlow, ConfigSubentryFlow
    from homeassistant.data_entry_flow import FlowHandler

    from custom_components.flatpeak.flows.device_flow import DeviceSubentryFlow
    from custom_components.flatpeak.flows.mapping_steps import BatteryMappingSteps
    from custom_components.flatpeak.repairs import MappingRepairFlow

    assert BatteryMappingSteps.__mro__[1] is FlowHandler
    for flow, own in (
        (FlatpeakConfigFlow, ConfigFlow),
        (DeviceSubentryFlow, ConfigSubentryFlow),
        (MappingRepairFlow, FlowHandler),
    ):
        mro = flow.__mro__
        assert mro.index(BatteryMappingSteps) < mro.index(own)


def test_classes_live_in_the_module_core_s_class_module_check_expects() -> None:
    """Core's pylint ``hass-enforce-class-module``, by its rule: a class derived
    from ``DataUpdateCoordinator`` lives in ``coordinator.py``, one derived from
    a platform's entity description or entity in that platform's module.

    ``StatusPublisher`` (delivery/status.py) implements the coordinator protocol only
    (``BaseDataUpdateCoordinatorProtocol``: pushed, nothing polled), which the
    check does not ask about.
    """
    import importlib
    import pkgutil

    from homeassistant.const import Platform
    from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

    import custom_components.flatpeak as package

    expected = {"DataUpdateCoordinator": "coordinator"} | {
        f"{''.join(p.title() for p in platform.split('_'))}EntityDescription": platform
        for platform in Platform
    }
    expected["BinarySensorEntityDescription"] = "binary_sensor"
    # An entity of a platform lives in that platform's module too.
    expected |= {
        f"{''.join(p.title() for p in platform.split('_'))}Entity": platform
        for platform in Platform
    }
    expected["BinarySensorEntity"] = "binary_sensor"
    misplaced: list[str] = []
    checked = 0
    for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(module_info.name)
        for cls in vars(module).values():
            if not isinstance(cls, type) or cls.__module__ != module.__name__:
                continue
            for base in cls.__mro__[1:]:
                if (wanted := expected.get(base.__name__)) is not None:
                    checked += 1
                    if module.__name__.rsplit(".", 1)[1] != wanted:
                        misplaced.append(f"{module.__name__}.{cls.__name__}")
                    break
    assert checked >= 12  # the read coordinators, the entity descriptions, entities
    assert misplaced == []
    from custom_components.flatpeak.delivery.status import StatusPublisher

    assert not issubclass(StatusPublisher, DataUpdateCoordinator)
