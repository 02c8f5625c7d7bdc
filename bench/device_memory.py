"""Bytes per parked virtual device.

Drives real `VirtualDevice`s through a short life over an in-memory transport (launch and
registration, a session, a personalized user on a third of them, batched events left unsent on a
tenth, background), parks each one to bytes, then measures with tracemalloc what a list of the
parked blobs holds in memory: the record itself plus the bytes-object header and the list slot.

Run from the repository root::

    .venv/bin/python bench/device_memory.py            # 100 000 devices
    .venv/bin/python bench/device_memory.py 1000000    # a million

The aim (issue 3) is at most 512 bytes per parked device.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
import uuid

from simulator import AppConfig, Outgoing, Platform, Reply, VirtualClock, VirtualDevice

PLATFORMS = (Platform.ANDROID, Platform.IOS, Platform.HUAWEI)
CONFIG = AppConfig("BENCH-APP-CODE", sync_messages=False)


class _Server:
    """Answers like the reference server, without HTTP: a fresh pushRegId per create."""

    def __init__(self) -> None:
        self.count = 0

    def send(self, request: Outgoing) -> Reply:
        name = request.wire.endpoint.name
        if name == "create_installation":
            self.count += 1
            body = {"pushRegId": str(uuid.UUID(int=self.count * 2654435761, version=4)), "regEnabled": True}
            return Reply(200, {}, json.dumps(body).encode())
        if name == "personalize":
            identity = json.loads(request.content or b"{}")["userIdentity"]
            return Reply(200, {}, json.dumps({**identity, "firstName": "Ana", "type": "CUSTOMER"}).encode())
        if name == "custom_events":
            return Reply(503, {"content-length": "2"}, b"{}")  # leave the batch stored
        return Reply(200, {}, b"")


def parked_blob(seed: int, server: _Server, clock: VirtualClock) -> bytes:
    device = VirtualDevice.create(PLATFORMS[seed % 3], CONFIG, seed=seed, transport=server, clock=clock)
    device.start()
    if seed % 3 == 0:
        device.personalize({"externalUserId": f"customer-{seed:08d}"}, {"firstName": "Ana"})
    if seed % 10 == 0:
        device.submit_event("purchase", {"amount": 12.5})
    device.advance(12)
    device.background()
    return device.park()


def main(count: int) -> None:
    server, clock = _Server(), VirtualClock()
    began = time.perf_counter()
    blobs = [parked_blob(seed, server, clock) for seed in range(count)]
    built = time.perf_counter() - began
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    parked = [bytes(bytearray(blob)) for blob in blobs]  # fresh copies: only the parked form is counted
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    payload = sum(len(blob) for blob in parked) / count
    resumed = VirtualDevice.resume(parked[0], CONFIG, transport=server, clock=clock)
    assert resumed.reg_id is not None
    print(f"{count} parked devices: {total / count:.0f} bytes per device in memory "
          f"({payload:.0f} bytes of record, the rest bytes-object header and list slot); aim <= 512")  # fmt: skip
    print(f"(driving and parking them took {built / count * 1e6:.0f} us per device)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
