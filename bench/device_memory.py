"""Bytes per parked virtual device.

Drives real `VirtualDevice`s through a short life against the reference server in this process
(`server_stub.inprocess.InProcessServer` through `simulator.transport.InProcessTransport`: launch
and registration, a session, a personalized user on a third of them, a batched event still stored
on a tenth, background), parks each one to bytes, then measures with tracemalloc what a list of the
parked blobs holds in memory: the record itself plus the bytes-object header and the list slot.

Run from the repository root::

    .venv/bin/python bench/device_memory.py            # 100 000 devices
    .venv/bin/python bench/device_memory.py 1000000    # a million

The aim (issue 3) is at most 512 bytes per parked device.
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from server_stub.inprocess import InProcessServer
from simulator import AppConfig, Platform, VirtualClock, VirtualDevice
from simulator.transport import InProcessTransport

PLATFORMS = (Platform.ANDROID, Platform.IOS, Platform.HUAWEI)
CONFIG = AppConfig("BENCH-APP-CODE", sync_messages=False)


def parked_blob(seed: int, server: InProcessTransport, clock: VirtualClock) -> bytes:
    device = VirtualDevice.create(PLATFORMS[seed % 3], CONFIG, seed=seed, transport=server, clock=clock)
    device.start()
    if seed % 3 == 0:
        device.personalize({"externalUserId": f"customer-{seed:08d}"}, {"firstName": "Ana"})
    device.advance(12)
    device.background()
    if seed % 10 == 0:  # submitted as the app goes away: still in the batch when the process dies
        device.submit_event("purchase", {"amount": 12.5})
    return device.park()


def main(count: int) -> None:
    clock = VirtualClock()
    reference = InProcessServer(CONFIG.app_code, clock=clock)
    server = InProcessTransport(reference)
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
