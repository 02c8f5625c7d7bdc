"""What an SDK version does on the wire: the behaviours that changed across releases, per SDK line.

Each flag is the first release that has the behaviour, read in the SDK sources (the release
commits of Android and Huawei, whose GitHub tags sometimes point at older commits; iOS tags are
exact). The citations are in docs/reference/versions.md. A device asks :func:`features` for its
platform and claimed version; versions that are not ``X.Y.Z`` count their digits (``15.5.2 (plugin)``
is 15.5.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from contract.dialect import Platform

__all__ = ["SdkFeatures", "at_least", "features", "parse_version"]


def parse_version(version: str) -> tuple[int, int, int]:
    """``"15.5.2"`` → ``(15, 5, 2)``; missing or non-numeric parts count as 0."""
    parts = [0, 0, 0]
    for n, piece in enumerate(version.strip().split(" ")[0].split(".")[:3]):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts[n] = int(digits or 0)
    return parts[0], parts[1], parts[2]


def at_least(version: str, floor: tuple[int, int, int]) -> bool:
    return parse_version(version) >= floor


@dataclass(frozen=True, slots=True)
class SdkFeatures:
    """The version-dependent behaviours of one SDK line at one version."""

    keep_as_lead: bool
    """The personalize query carries ``keepAsLead`` (Android 13.1.0, iOS 12.14.0, Huawei 6.8.0)."""
    set_device_as_primary: bool
    """The personalize query carries ``setDeviceAsPrimary`` (Android 15.0.0, iOS 15.5.0; Huawei never)."""
    debounce: bool
    """An identical user call within 1 s is dropped (`DebouncingGuard`: Android 14.14.0, Huawei 8.11.0; iOS never)."""
    stores_personalize_answer: bool
    """The personalize answer becomes the stored user (iOS always; Android 14.7.2, Huawei 8.11.0); before,
    the request's identity and attributes are stored as reported."""
    jwt: bool
    """A user JWT from the app's `JwtSupplier` goes as ``Bearer`` on the user calls (Android 13.12.0,
    iOS 13.6.0, Huawei 7.5.0; `simulator.jwt`)."""
    validates_user: bool
    """User data is checked before it is sent (Android 14.7.2, iOS 14.1.2, Huawei 8.11.0); before, the
    server's 400 is what the app gets."""
    sdk_version_null: bool
    """``sdkVersion`` and the User-Agent's version are the literal ``null`` (Android 13.0.0 to 13.2.1:
    the AGP 8 build lost ``versionName``; fixed in 13.2.2. Huawei 7.0.0 on has the same build setup
    and no fix: inferred, docs/reference/versions.md)."""
    base_url_reset_at_start: bool
    """A ``New-Base-URL`` learnt lasts until the process ends: every start goes back to the default
    (Android 12.5.0; Huawei and iOS keep it)."""
    app_url_disables_base_url: bool
    """An app-given API URL switches off ``New-Base-URL``, the two-failure reset and the base-URL
    check (Android 12.5.0; Huawei never, its flag is never set; iOS: only the check)."""
    base_url_compare: bool
    """iOS 8.5.1: a ``New-Base-URL`` equal to the current URL is ignored."""
    base_url_resync: bool
    """iOS 10.5.1: a changed ``New-Base-URL`` that differs from the configured URL syncs the
    installation and the messages again."""
    base_url_check_at_start: bool
    """iOS 12.6.1: the base-URL check also runs at start (before: foreground only), and only with
    the default API URL."""
    nse_registration_headers: bool
    """iOS 13.12.1: the extension's delivery report carries ``pushregistrationid`` and ``installationid``."""
    nse_standalone: bool
    """iOS 15.0.0: the extension reports through its own reporter (its User-Agent; any answer counts)."""
    sorted_keys: bool
    """iOS 15.1.0: request bodies are encoded with sorted keys (before: NSJSONSerialization's order)."""


def _android(v: str, huawei: bool) -> SdkFeatures:
    def since(android: tuple[int, int, int], hms: tuple[int, int, int] | None) -> bool:
        floor = hms if huawei else android
        return floor is not None and at_least(v, floor)

    null = at_least(v, (7, 0, 0)) if huawei else (at_least(v, (13, 0, 0)) and not at_least(v, (13, 2, 2)))
    return SdkFeatures(
        keep_as_lead=since((13, 1, 0), (6, 8, 0)),
        set_device_as_primary=since((15, 0, 0), None),
        debounce=since((14, 14, 0), (8, 11, 0)),
        stores_personalize_answer=since((14, 7, 2), (8, 11, 0)),
        jwt=since((13, 12, 0), (7, 5, 0)),
        validates_user=since((14, 7, 2), (8, 11, 0)),
        sdk_version_null=null,
        base_url_reset_at_start=not huawei and at_least(v, (12, 5, 0)),
        app_url_disables_base_url=not huawei and at_least(v, (12, 5, 0)),
        base_url_compare=False,
        base_url_resync=False,
        base_url_check_at_start=False,
        nse_registration_headers=False,
        nse_standalone=False,
        sorted_keys=False,
    )


def _ios(v: str) -> SdkFeatures:
    return SdkFeatures(
        keep_as_lead=at_least(v, (12, 14, 0)),
        set_device_as_primary=at_least(v, (15, 5, 0)),
        debounce=False,
        stores_personalize_answer=True,
        jwt=at_least(v, (13, 6, 0)),
        validates_user=at_least(v, (14, 1, 2)),
        sdk_version_null=False,
        base_url_reset_at_start=False,
        app_url_disables_base_url=False,
        base_url_compare=at_least(v, (8, 5, 1)),
        base_url_resync=at_least(v, (10, 5, 1)),
        base_url_check_at_start=at_least(v, (12, 6, 1)),
        nse_registration_headers=at_least(v, (13, 12, 1)),
        nse_standalone=at_least(v, (15, 0, 0)),
        sorted_keys=at_least(v, (15, 1, 0)),
    )


@lru_cache(maxsize=512)
def features(platform: Platform | str, sdk_version: str) -> SdkFeatures:
    """The behaviours of ``platform``'s SDK at ``sdk_version`` (Huawei: its own version line)."""
    platform = Platform(platform)
    if platform is Platform.IOS:
        return _ios(sdk_version)
    return _android(sdk_version, huawei=platform is Platform.HUAWEI)
