from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from scenarios import DEFAULT_PERSONAS, Population, Slice, parse_weights
from simulator import AppConfig, VirtualClock

APP = AppConfig("CODE", base_url="http://testserver")


def _unused_transport() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.method} {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_same_seed_same_population_other_seed_other_population() -> None:
    a, b, c = (Population(500, seed, APP) for seed in (7, 7, 8))
    assert [a.persona_of(i) for i in range(500)] == [b.persona_of(i) for i in range(500)]
    assert [a.platform_of(i) for i in range(500)] == [b.platform_of(i) for i in range(500)]
    assert [a.persona_of(i) for i in range(500)] != [c.persona_of(i) for i in range(500)]
    assert a.device_seed(3) == b.device_seed(3) != c.device_seed(3)


def test_persona_and_platform_shares_follow_the_weights() -> None:
    pop = Population(20_000, 1, APP)
    personas = Counter(pop.persona_of(i) for i in range(20_000))
    total = sum(DEFAULT_PERSONAS.values())
    for name, weight in DEFAULT_PERSONAS.items():
        assert personas[name] / 20_000 == pytest.approx(weight / total, abs=0.02)
    platforms = Counter(pop.platform_of(i) for i in range(20_000))
    assert platforms["android"] / 20_000 == pytest.approx(0.55, abs=0.02)
    assert platforms["ios"] / 20_000 == pytest.approx(0.38, abs=0.02)
    assert platforms["huawei"] / 20_000 == pytest.approx(0.07, abs=0.01)


def test_multidevice_pairs_share_a_person_and_a_platform() -> None:
    pop = Population(2000, 3, APP)
    pairs = [i for i in range(0, 2000, 2) if pop.persona_of(i) == "multidevice"]
    assert pairs
    for i in pairs:
        assert pop.persona_of(i + 1) == "multidevice"
        assert pop.identity(i) == pop.identity(i + 1)
        assert pop.platform_of(i) == pop.platform_of(i + 1)
    loner = next(i for i in range(2000) if pop.persona_of(i) == "login")
    assert pop.identity(loner) != pop.identity(loner ^ 1)


def test_worker_slices_are_disjoint_and_cover_the_population() -> None:
    slices = [Slice(k, 3) for k in range(3)]
    owned = [set(s.indices(100)) for s in slices]
    assert set().union(*owned) == set(range(100))
    assert sum(len(o) for o in owned) == 100
    for k, indices in enumerate(owned):
        assert all(i % 3 == k for i in indices)
    with pytest.raises(ValueError, match="impossible"):
        Slice(3, 3)


def test_checkout_is_least_recently_used_and_busy_devices_are_not_handed_out() -> None:
    pop = Population(40, 5, APP, personas={"browser": 1}, clock=VirtualClock())
    transport = _unused_transport()
    first = pop.checkout("browser", transport)
    assert first is not None
    index, device = first
    assert pop.available("browser") == 39
    others = [pop.checkout("browser", transport) for _ in range(39)]
    assert all(o is not None for o in others)
    assert pop.checkout("browser", transport) is None
    pop.park(index, device)
    again = pop.checkout("browser", transport)
    assert again is not None and again[0] == index
    assert pop.checkout("shopper", transport) is None


def test_state_round_trips_through_a_file_and_reslices(tmp_path: Path) -> None:
    clock = VirtualClock()
    whole = Population(30, 9, APP, personas={"login": 1}, clock=clock)
    transport = _unused_transport()
    for _ in range(30):
        got = whole.checkout("login", transport)
        assert got is not None
        whole.park(*got)
    path = tmp_path / "pop.bin"
    assert whole.save(path) == 30
    halves = [Population(30, 9, APP, personas={"login": 1}, slice_=Slice(k, 2), clock=clock) for k in (0, 1)]
    assert [h.load(path) for h in halves] == [15, 15]
    assert dict(halves[0].parked()) == {i: b for i, b in whole.parked() if i % 2 == 0}
    with pytest.raises(ValueError, match="same --seed and --population"):
        Population(31, 9, APP).load(path)
    bogus = tmp_path / "bogus.bin"
    bogus.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a mobsim population state file"):
        whole.load(bogus)


def test_weights_parse_with_clear_errors() -> None:
    assert parse_weights("browser=3, shopper=1", ("browser", "shopper"), "--personas") == {"browser": 3, "shopper": 1}
    for bad, message in (
        ("browser", "name=weight"),
        ("gamer=1", "name=weight"),
        ("browser=x", "must be a number"),
        ("browser=-1", "not be negative"),
        ("browser=0", "at least one positive"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_weights(bad, ("browser", "shopper"), "--personas")


def test_saving_prunes_the_slice_files_of_other_slicings(tmp_path: Path) -> None:
    from scenarios import load_state, prune_state_files, slice_state_path

    path = tmp_path / "pop.bin"
    whole = Population(8, 2, APP, personas={"login": 1})
    for name in ("pop.bin", "pop.bin.0of2", "pop.bin.1of2", "pop.bin.0of3"):
        whole.save(tmp_path / name)
    prune_state_files(path, Slice(1, 2))  # a worker of two: the slicing of three goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop.bin", "pop.bin.0of2", "pop.bin.1of2"]
    assert slice_state_path(path, Slice(1, 2)).name == "pop.bin.1of2" and slice_state_path(path, Slice()) == path
    prune_state_files(path, Slice())  # the whole population: every slice file goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop.bin"]
    assert load_state(Population(8, 2, APP, personas={"login": 1}), path) == 0  # nothing parked in it


def test_pruning_leaves_another_workers_file_being_written(tmp_path: Path) -> None:
    """Two workers save at the same moment: one's prune must not delete the other's ``.tmp``
    (it did: worker 0 then left no slice file at all)."""
    from scenarios import prune_state_files

    path = tmp_path / "pop.bin"
    for name in ("pop.bin.0of2.tmp", "pop.bin.1of3.tmp", "pop.bin.0of3"):
        (tmp_path / name).write_bytes(b"x")
    prune_state_files(path, Slice(1, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop.bin.0of2.tmp", "pop.bin.1of3.tmp"]
    prune_state_files(path, Slice())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop.bin.0of2.tmp", "pop.bin.1of3.tmp"]
