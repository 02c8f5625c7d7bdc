"""One class per SDK line: `create`/`resume` pick it, the shared modules hold no platform branch."""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Callable

import httpx
import pytest
import respx
from simhelpers import CODE

from simulator import (
    AndroidDevice,
    HuaweiDevice,
    IosDevice,
    PersonalizeConflictError,
    UsageError,
    VirtualClock,
    VirtualDevice,
)
from simulator.platforms import device_class

SIMULATOR = pathlib.Path(__file__).parents[2] / "simulator"
SHARED = ("core.py", "sync.py", "device.py")


@pytest.mark.parametrize(
    ("platform", "cls"), [("ios", IosDevice), ("android", AndroidDevice), ("huawei", HuaweiDevice)]
)
def test_create_and_resume_return_the_platform_class(platform: str, cls: type[VirtualDevice]) -> None:
    device = VirtualDevice.create(platform, CODE, seed=3, clock=VirtualClock())
    assert type(device) is cls and isinstance(device, VirtualDevice)
    assert device_class(platform) is cls
    resumed = VirtualDevice.resume(device.park(), CODE, clock=VirtualClock())
    assert type(resumed) is cls
    assert type(cls.create(platform, CODE, seed=3)) is cls


def test_huawei_is_the_android_code_base_with_hms() -> None:
    assert issubclass(HuaweiDevice, AndroidDevice) and not issubclass(AndroidDevice, HuaweiDevice)
    assert HuaweiDevice.create("huawei", CODE, seed=1).platform.push_service_type == "HMS"


@pytest.mark.parametrize(("cls", "platform"), [(AndroidDevice, "ios"), (IosDevice, "android"),
                                               (AndroidDevice, "huawei"), (HuaweiDevice, "android")])  # fmt: skip
def test_a_platform_class_refuses_another_platform(cls: type[VirtualDevice], platform: str) -> None:
    with pytest.raises(UsageError, match=cls.__name__):
        cls.create(platform, CODE, seed=1)
    parked = VirtualDevice.create(platform, CODE, seed=1).park()
    with pytest.raises(UsageError):
        cls.resume(parked, CODE)


@pytest.mark.parametrize("name", SHARED)
def test_the_shared_state_machine_has_no_platform_branch(name: str) -> None:
    """Each SDK's rule is a method of its class in `simulator/platforms/`, not an `if` in the shared flow."""
    tree = ast.parse((SIMULATOR / name).read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("ios", "IOS", "ANDROID", "HUAWEI"):
            found.append(f"{name}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.Constant) and node.value in ("ios", "android", "huawei"):
            found.append(f"{name}:{node.lineno} {node.value!r}")
    assert not found, found


def test_the_identity_rollback_is_written_once() -> None:
    defined = [f"{p.name}:{n.lineno}" for p in SIMULATOR.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
               if isinstance(n, ast.Assign) and any("ROLLBACK" in ast.unparse(t) for t in n.targets)]  # fmt: skip
    assert defined == ["sync.py:" + defined[0].split(":")[1]], defined


def _conflict(code: str) -> httpx.Response:
    return httpx.Response(400, json={"requestError": {"serviceException": {"messageId": code, "text": code}}})


@pytest.mark.parametrize("code", ["AMBIGUOUS_PERSONALIZE_CANDIDATES", "USER_MERGE_INTERRUPTED"])
@pytest.mark.parametrize(("platform", "rolls_back"), [("ios", True), ("android", False)])
def test_a_merge_conflict_drops_the_tried_identity_on_ios_on_both_paths(
    started: Callable[..., VirtualDevice], router: respx.Router, platform: str, rolls_back: bool, code: str
) -> None:
    """iOS drops the identity it tried after a user PATCH and after a personalize (one rule) and keeps
    the attributes; Android treats both codes as invalid parameters and drops all unreported user data
    (`setUserDataReportedWithError`)."""
    device = started(platform)
    router.route(url__regex=r".*/REG-1/user(\?.*)?$").mock(return_value=_conflict(code))
    router.route(url__regex=r".*/REG-1/personalize.*").mock(return_value=_conflict(code))
    with pytest.raises(PersonalizeConflictError):
        device.save_user(externalUserId="x-1", firstName="Ana")
    assert device.state.user_dirty == ({"firstName": "Ana"} if rolls_back else None)
    device.state.user_dirty = {"externalUserId": "x-2", "lastName": "B"}
    with pytest.raises(PersonalizeConflictError):
        device.personalize({"externalUserId": "x-3"}, {"lastName": "C"})
    assert device.state.user_dirty == ({"lastName": "B"} if rolls_back else None)


def test_another_conflict_keeps_the_identity_on_ios(
    started: Callable[..., VirtualDevice], router: respx.Router
) -> None:
    device = started("ios")
    router.route(url__regex=r".*/REG-1/user(\?.*)?$").mock(return_value=_conflict("PERSONALIZATION_IMPOSSIBLE"))
    with pytest.raises(PersonalizeConflictError):
        device.save_user(externalUserId="x-1")
    assert (device.state.user_dirty or {}) == {"externalUserId": "x-1"}
