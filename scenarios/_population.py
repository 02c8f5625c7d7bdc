"""A population of N virtual devices (and their persons) derived from a seed, sliced per worker.

Device ``i`` is always the same phone (or tablet): its platform, persona, seed, form factor and
person follow from ``(seed, i)`` alone. A worker owns the indices ``i`` with ``i % slice.count == slice.index``, so
workers never drive the same device and need nothing but their index to agree. Devices are
created lazily on first checkout and parked as their packed state (about 200 bytes) between
sessions, least recently used first: most sessions come from returning installs.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator import AppConfig, Clock, DeviceState, RealClock, Transport, VirtualDevice
from simulator.outcomes import pending

__all__ = [
    "DEFAULT_PERSONAS",
    "DEFAULT_PLATFORMS",
    "PERSONAS",
    "Population",
    "Slice",
    "Touched",
    "load_state",
    "parse_weights",
    "prune_state_files",
    "slice_state_path",
    "state_header",
]

PERSONAS = ("browser", "login", "multidevice", "shopper", "churner", "newinstall")
DEFAULT_PERSONAS: dict[str, float] = {
    "browser": 30,
    "login": 25,
    "multidevice": 10,
    "shopper": 20,
    "churner": 5,
}
"""The default weights; new installs (the ``newinstall`` persona) are a share of sessions on top,
``--new-installs``."""
DEFAULT_PLATFORMS: dict[str, float] = {"android": 55, "ios": 38, "huawei": 7}
_MAGIC = b"MOBSIMPOP1\n"


def parse_weights(text: str, known: tuple[str, ...], what: str) -> dict[str, float]:
    """``"browser=30,shopper=20"`` → weights; unknown names or bad numbers raise ``ValueError``."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise ValueError(f"{what} {part!r}: write name=weight with a name from {', '.join(known)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ValueError(f"{what} {part!r}: the weight must be a number") from None
        if weights[name] < 0:
            raise ValueError(f"{what} {part!r}: the weight must not be negative")
    if not weights or sum(weights.values()) <= 0:
        raise ValueError(f"{what}: give at least one positive weight")
    return weights


@dataclass(frozen=True)
class Slice:
    """Which devices a worker owns: ``index`` of ``count`` workers."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"worker slice {self.index} of {self.count} is impossible")

    def owns(self, device: int) -> bool:
        return device % self.count == self.index

    def indices(self, size: int) -> range:
        return range(self.index, size, self.count)


def _unit(seed: int, index: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{index}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _pick(weights: Mapping[str, float], u: float) -> str:
    total = sum(weights.values())
    acc = 0.0
    for name, weight in weights.items():
        acc += weight / total
        if u < acc:
            return name
    return list(weights)[-1]


class Touched:
    """The set of device indices checked out at least once: a flag byte per device and a count
    (a million-entry ``set[int]`` would take 60 MB of a worker's memory)."""

    __slots__ = ("_count", "_flags")

    def __init__(self, size: int) -> None:
        self._flags = bytearray(size)
        self._count = 0

    def add(self, index: int) -> None:
        if not self._flags[index]:
            self._flags[index] = 1
            self._count += 1

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 0 <= index < len(self._flags) and bool(self._flags[index])

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        flags = self._flags
        return (index for index in range(len(flags)) if flags[index])


class Population:
    def __init__(
        self,
        size: int,
        seed: int,
        app: AppConfig,
        *,
        slice_: Slice = Slice(),
        personas: Mapping[str, float] = DEFAULT_PERSONAS,
        platforms: Mapping[str, float] = DEFAULT_PLATFORMS,
        clock: Clock | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a population needs at least one device")
        self.size, self.seed, self.app, self.slice = size, seed, app, slice_
        self.personas = {k: v for k, v in personas.items() if v > 0}
        self.platforms = dict(platforms)
        self.clock = clock or RealClock()
        self._parked: list[bytes | None] = [None] * size
        self._free: dict[str, deque[int]] = {name: deque() for name in self.personas}
        # Each owned device's persona, looked up on every checkout and park: 1 + its position in
        # `_names` (0: not worked out yet). One byte per device instead of a hash per lookup.
        self._names = tuple(self.personas)
        self._codes = {name: code for code, name in enumerate(self._names, 1)}
        self._persona = bytearray(size) if len(self._names) < 255 else None
        for index in slice_.indices(size):
            persona = self.persona_of(index)
            if persona in self._free:
                self._free[persona].append(index)
        self.touched = Touched(size)
        self._out = bytearray(size)
        """1 while a device is checked out (by a session, or woken by a push)."""
        self._held_pushes: dict[int, list[Any]] = {}
        """Pushes for devices that were checked out when they arrived, handed over at park."""

    # -- what follows from (seed, index) -------------------------------------------------------
    def persona_of(self, index: int) -> str:
        """Multi-device persons come in pairs (2k, 2k + 1): a phone and a tablet of one person."""
        known = self._persona
        if known is not None and 0 <= index < self.size:
            code = known[index]
            if code:
                return self._names[code - 1]
            name = _pick(self.personas, _unit(self.seed, index // 2, "persona"))
            known[index] = self._codes.get(name, 0)
            return name
        return _pick(self.personas, _unit(self.seed, index // 2, "persona"))

    def platform_of(self, index: int) -> str:
        pair = index // 2 if self.persona_of(index) == "multidevice" else index
        return _pick(self.platforms, _unit(self.seed, pair, "platform"))

    def person_of(self, index: int) -> int:
        """The person number: shared by the two devices of a multi-device pair."""
        return index // 2 if self.persona_of(index) == "multidevice" else index

    def is_tablet(self, index: int) -> bool:
        """The second device (2k + 1) of a multi-device pair is the person's tablet."""
        return index % 2 == 1 and self.persona_of(index) == "multidevice"

    def device_seed(self, index: int) -> int:
        return int(_unit(self.seed, index, "device") * 2**48)

    def identity(self, index: int) -> dict[str, Any]:
        person = self.person_of(index)
        return {
            "externalUserId": f"mobsim-{self.seed}-{person}",
            "emails": [f"person{person}.s{self.seed}@example.com"],
        }

    # -- checkout and park ---------------------------------------------------------------------
    def available(self, persona: str) -> int:
        return len(self._free.get(persona, ()))

    def checkout(
        self, persona: str, transport: Transport, clock: Clock | None = None
    ) -> tuple[int, VirtualDevice] | None:
        """The least recently used free device of ``persona``, or None when all are busy."""
        free = self._free.get(persona)
        if not free:
            return None
        out = self._out
        for _ in range(len(free)):  # skip devices a push woke (they stay listed as free)
            index = free.popleft()
            if not out[index]:
                break
            free.append(index)
        else:
            return None
        out[index] = 1
        blob = self._parked[index]
        clock = clock or self.clock
        if blob is None:
            device = VirtualDevice.create(
                self.platform_of(index),
                self.app,
                seed=self.device_seed(index),
                transport=transport,
                clock=clock,
                tablet=self.is_tablet(index),
                route=index + 1,
            )
        else:
            device = VirtualDevice.resume(blob, self.app, transport=transport, clock=clock)
        self.touched.add(index)
        return index, device

    def park(self, index: int, device: VirtualDevice) -> None:
        self._hand_held_pushes(index, device)
        self._parked[index] = device.park()
        self._out[index] = 0
        self._free[self.persona_of(index)].append(index)

    # -- pushes ----------------------------------------------------------------------------------
    def wake(self, index: int, transport: Transport, clock: Clock | None = None) -> VirtualDevice | None:
        """The parked device ``index`` woken by a push (checked out until :meth:`put_back`), or None
        when it is checked out now or was never installed (it has no push token)."""
        blob = self._parked[index] if 0 <= index < self.size else None
        if blob is None or self._out[index]:
            return None
        self._out[index] = 1
        self.touched.add(index)
        return VirtualDevice.resume(blob, self.app, transport=transport, clock=clock or self.clock)

    def put_back(self, index: int, device: VirtualDevice) -> None:
        """Park a device :meth:`wake` took (it never left the free list)."""
        self._hand_held_pushes(index, device)
        self._parked[index] = device.park()
        self._out[index] = 0

    def busy(self, index: int) -> bool:
        return bool(self._out[index])

    def hold_push(self, index: int, payload: Any) -> None:
        """A push for a device in a session: handed to it when the session parks it."""
        self._held_pushes.setdefault(index, []).append(payload)

    def _hand_held_pushes(self, index: int, device: VirtualDevice) -> None:
        for payload in self._held_pushes.pop(index, ()):
            device.receive_push(payload)

    def store(self, index: int, blob: bytes) -> None:
        """Keep a device's parked state without touching the free lists (the set-up phase)."""
        self._parked[index] = blob

    def uninstalled(self) -> Iterator[int]:
        """This slice's devices with no parked state, but the ``newinstall`` persona's (they
        install afresh each session): what the installed-base set-up registers."""
        parked = self._parked
        for index in self.slice.indices(self.size):
            if parked[index] is None and self.persona_of(index) != "newinstall":
                yield index

    def pending(self, kinds: tuple[str, ...]) -> dict[str, int]:
        """What the devices driven in this run hold unacknowledged (`simulator.outcomes.pending`)."""
        totals = dict.fromkeys(kinds, 0)
        parked = self._parked
        for index in self.touched:
            blob = parked[index]
            if blob is not None:
                for kind, n in pending(DeviceState.unpack(blob)).items():
                    totals[kind] = totals.get(kind, 0) + n
        return totals

    # -- saving and resuming -------------------------------------------------------------------
    def parked(self) -> Iterator[tuple[int, bytes]]:
        for index in self.slice.indices(self.size):
            blob = self._parked[index]
            if blob is not None:
                yield index, blob

    def save(self, path: Path) -> int:
        """Write this slice's parked devices; returns how many."""
        count = 0
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as handle:
            handle.write(_MAGIC + struct.pack(">QQ", self.seed, self.size))
            for index, blob in self.parked():
                handle.write(struct.pack(">QI", index, len(blob)) + blob)
                count += 1
        tmp.replace(path)
        return count

    def load(self, path: Path) -> int:
        """Take the devices this slice owns from a saved file; returns how many."""
        data = path.read_bytes()
        seed, size = _header(path, data)
        if (seed, size) != (self.seed, self.size):
            raise ValueError(
                f"{path} holds population seed {seed} of {size} devices; this run has seed {self.seed} "
                f"of {self.size}: use the same --seed and --population, or a new state file"
            )
        offset, count = len(_MAGIC) + 16, 0
        while offset < len(data):
            index, length = struct.unpack_from(">QI", data, offset)
            offset += 12
            if self.slice.owns(index):
                self._parked[index] = data[offset : offset + length]
                count += 1
            offset += length
        return count


def slice_state_path(path: Path, slice_: Slice) -> Path:
    """Where a slice keeps its part of a state file: the file itself for a whole population,
    ``FILE.<index>of<count>`` for one worker's slice."""
    return path if slice_.count == 1 else path.with_name(f"{path.name}.{slice_.index}of{slice_.count}")


def load_state(population: Population, path: Path) -> int:
    """Load what ``population``'s slice owns from a state file and its slice files; how many."""
    loaded = 0
    for candidate in sorted({path, *path.parent.glob(path.name + ".*of*")}):
        if candidate.is_file() and not candidate.name.endswith(".tmp"):
            loaded += population.load(candidate)
    return loaded


def _header(path: Path, data: bytes) -> tuple[int, int]:
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 16:
        raise ValueError(f"{path} is not a mobsim population state file: give another --state-file")
    seed, size = struct.unpack_from(">QQ", data, len(_MAGIC))
    return int(seed), int(size)


def state_header(path: Path) -> tuple[int, int]:
    """The (seed, population size) a state file was saved with, read from its first bytes."""
    with path.open("rb") as handle:
        return _header(path, handle.read(len(_MAGIC) + 16))


def prune_state_files(path: Path, slice_: Slice) -> None:
    """After ``slice_`` saved its part: remove the parts of other slicings, which :func:`load_state`
    would otherwise read after it (a whole population supersedes every slice file; a slice of N
    supersedes the slices of any other count). The whole file stays: the slices override it."""
    own = re.compile(re.escape(path.name) + r"\.(\d+)of(\d+)")
    for candidate in path.parent.glob(path.name + ".*of*"):
        # Only finished slice files: another worker's ``.tmp`` being written right now stays.
        match = own.fullmatch(candidate.name)
        if match is not None and (slice_.count == 1 or match.group(2) != str(slice_.count)):
            candidate.unlink(missing_ok=True)
