"""Segments at a million persons: count and first page in SQL, against the Python evaluator.

Builds a population directly through the store (``Store.transaction``, one bulk ``INSERT ...
SELECT`` per table, generated inside SQLite from a deterministic hash of the row number) in a
temporary database file: persons with attributes, tags and custom attributes, an externalUserId
each and an email for half of them, 1.2 installations per person (45% iOS, 50% Android, 5%
Huawei, system data, some installation custom attributes, 3% uninstalled) plus anonymous ones, App
Launch events over the last 90 days and ``purchase`` events with an amount. Then, side by side in
one run, for each segment:

- the time to save it (which builds the indexes its attribute conditions use, once);
- the time of the person count, of the installation count and of the first page of members
  (``segment_members``: 20 persons with their installations, what ``GET .../members`` answers),
  evaluated in SQL (server_stub/segments_sql.py);
- the Python evaluator (every person, installation and event loaded:
  ``server_stub.segments.evaluate_python``) on a 20,000-person sample built the same way, whose
  results are checked equal to the SQL ones, its time extrapolated linearly to the full size, and
  the ratio of that to the SQL count.

Run from the repository root (loopback-free: everything is in-process)::

    .venv/bin/python bench/segments.py                      # 1,000,000 persons (about 4 minutes)
    .venv/bin/python bench/segments.py --persons 100000     # quicker
    .venv/bin/python bench/segments.py --db /tmp/seg.db     # build it there once, reuse it next time

Timings are wall time of one call each (the best of ``--repeat``, default 3); nothing here is a
timed assertion, and a busy machine makes every figure noisy (the load average is printed first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_stub import Store
from server_stub.rules import Caller, Context
from server_stub.saved_segments import ACTIVE, INACTIVE, create_segment, segment_members
from server_stub.segment_query import parse_query
from server_stub.segments import evaluate_python
from server_stub.segments_sql import count_installations, count_persons, registrations

T = TypeVar("T")
NOW = datetime(2024, 6, 1, tzinfo=UTC)
ACCOUNT = "default"
APP = "bench-segments-app"
SAMPLE = 20_000

SEGMENTS: list[tuple[str, dict[str, Any] | None]] = [
    ("attribute: tier = gold", {"filter": {"customAttributes.tier": "gold"}}),
    ("tag: vip", {"filter": {"#contains": {"tags": "vip"}}}),
    ("platform = ios", {"filter": {"platform": "ios"}}),
    ("installation: language = de, notifications on", {"filter": {"language": "de", "notificationsEnabled": True}}),
    (
        "event: 2+ purchases in 30 days",
        {
            "events": [
                {
                    "definitionId": "purchase",
                    "occurrenceCondition": {"operation": "GREATER_OR_EQUAL", "times": 2},
                    "timelineCondition": {"occurred": "ALL", "operator": "AFTER", "start": 30, "units": "DAYS"},
                }
            ]
        },
    ),
    (
        "mixed: gold, android, purchase > 100",
        {
            "filter": {"customAttributes.tier": "gold", "platform": "android"},
            "events": [
                {
                    "definitionId": "purchase",
                    "payloadConditions": [{"attribute": "amount", "operator": "GT", "value": 100}],
                }
            ],
        },
    ),
    (ACTIVE, None),
    (INACTIVE, None),
]

# h(x, salt): a deterministic pseudo-random integer in [0, 1000003) for row x
_H = "((({x}) * 2654435761 + {salt} * 40503 + 12345) % 1000003)"


def h(x: str, salt: int) -> str:
    return _H.format(x=x, salt=salt)


def pick(x: str, salt: int, values: list[str]) -> str:
    items = ",".join(f'"{v}"' for v in values)
    return f"json_extract('[{items}]', '$[' || ({h(x, salt)} % {len(values)}) || ']')"


TAGS = [("vip", 15), ("newsletter", 40), ("churned", 8), ("beta", 5), ("sale", 25), ("sports", 12)]
NAMES = ["Ana", "Ivan", "Marta", "Luka", "Sara", "Petar", "Maja", "Josip", "Iva", "Marko", "Ena", "Filip"]


def build(path: Path, persons: int) -> tuple[Store, float, dict[str, int]]:
    """A store at ``path`` with the population; (store, seconds, row counts)."""
    store = Store(path)
    started = time.perf_counter()
    now = int(NOW.timestamp())
    seq = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {count})"
    tags = " ".join(
        f"|| CASE WHEN {h('x', 10 + k)} % 100 < {share} THEN ',\"{tag}\"' ELSE '' END"
        for k, (tag, share) in enumerate(TAGS)
    )
    with store.transaction() as db:
        db.execute("INSERT INTO applications VALUES (?,?,?,?)", (APP, "bench", ACCOUNT, "2024-01-01T00:00:00Z"))
        db.execute(
            seq.format(count=persons) + " INSERT INTO persons (account, type, data, created, updated)"
            " SELECT ?, CASE WHEN x % 10 = 0 THEN 'LEAD' ELSE 'CUSTOMER' END, json_object("
            f" 'firstName', {pick('x', 1, NAMES)}, 'lastName', 'L' || ({h('x', 2)} % 5000),"
            f" 'gender', CASE WHEN {h('x', 3)} % 2 = 0 THEN 'Male' ELSE 'Female' END,"
            f" 'birthday', printf('%04d-%02d-%02d', 1950 + {h('x', 4)} % 58, 1 + {h('x', 5)} % 12, 1 + x % 28),"
            f" 'tags', json('[' || substr(''{tags}, 2) || ']'),"
            " 'customAttributes', json_object("
            f"   'tier', {pick('x', 6, ['bronze', 'bronze', 'silver', 'silver', 'gold', 'platinum'])},"
            f"   'spent', ({h('x', 7)} % 100000) / 100.0, 'orders', {h('x', 8)} % 30,"
            f"   'consent', json(CASE WHEN {h('x', 9)} % 2 = 0 THEN 'true' ELSE 'false' END)))"
            ", '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z' FROM n",
            (ACCOUNT,),
        )
        db.execute(
            "INSERT INTO identities (account, kind, value, person_id, display)"
            " SELECT account, 'externalUserId', 'user-' || id, id, 'user-' || id FROM persons"
        )
        db.execute(
            "INSERT INTO identities (account, kind, value, person_id, display)"
            " SELECT account, 'email', 'u' || id || '@example.com', id, 'u' || id || '@example.com' FROM persons"
            " WHERE id % 2 = 0"
        )
        # installations: k = 1 for every person, k = 2 for one in five; then anonymous ones
        system = (
            "json_object('pushServiceType', CASE p WHEN 'ios' THEN 'APNS' WHEN 'huawei' THEN 'HMS' ELSE 'Firebase' END,"
            " 'os', CASE p WHEN 'ios' THEN 'iOS' ELSE 'Android' END,"
            f" 'osVersion', CASE p WHEN 'ios' THEN {pick('r', 21, ['16.7', '17.2', '17.4', '18.0'])}"
            f"   ELSE {pick('r', 22, ['12', '13', '14', '15'])} END,"
            f" 'sdkVersion', {pick('r', 23, ['12.6.0', '13.1.0', '15.5.2'])},"
            f" 'appVersion', {pick('r', 24, ['3.0', '3.1', '3.2'])},"
            f" 'language', {pick('r', 25, ['en', 'en', 'de', 'hr', 'fr', 'es'])},"
            f" 'deviceTimezoneOffset', {pick('r', 26, ['GMT+00:00', 'GMT+01:00', 'GMT+02:00', 'GMT-05:00'])},"
            f" 'notificationsEnabled', json(CASE WHEN {h('r', 27)} % 10 < 8 THEN 'true' ELSE 'false' END),"
            " 'regEnabled', json('true'), 'pushServiceToken', 'token-' || r,"
            f" 'customAttributes', json(CASE WHEN {h('r', 28)} % 4 = 0 THEN '{{\"deviceType\":\"personal\"}}'"
            "   ELSE '{}' END))"
        )
        share = f"{h('r', 20)} % 100"
        platform = f"CASE WHEN {share} < 45 THEN 'ios' WHEN {share} < 95 THEN 'android' ELSE 'huawei' END"
        db.execute(
            seq.format(count=persons) + ", rows AS (SELECT x, k, x * 4 + k AS r FROM n, (SELECT 1 AS k UNION ALL"
            " SELECT 2) WHERE k = 1 OR x % 5 = 0), typed AS (SELECT x, k, r, " + platform + " AS p FROM rows)"
            " INSERT INTO installations (reg_id, app_code, person_id, state, platform, installation_id, is_primary,"
            " data, created, updated) SELECT printf('reg-%09d', r), ?, x,"
            f" CASE WHEN {h('r', 29)} % 100 < 3 THEN 'uninstalled' ELSE 'active' END, p, NULL,"
            f" CASE WHEN k = 1 AND {h('r', 30)} % 3 = 0 THEN 1 ELSE 0 END, {system},"
            " '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z' FROM typed",
            (APP,),
        )
        anonymous = persons // 20
        db.execute(
            seq.format(count=anonymous) + ", rows AS (SELECT x, x * 4 + 3 AS r FROM n),"
            " typed AS (SELECT x, r, " + platform + " AS p FROM rows)"
            " INSERT INTO installations (reg_id, app_code, person_id, state, platform, installation_id, is_primary,"
            f" data, created, updated) SELECT printf('reg-%09d', r), ?, NULL, 'active', p, NULL, 0, {system},"
            " '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z' FROM typed",
            (APP,),
        )
        # App Launches: 0 to 5 per installation over the last 90 days (the anonymous ones too)
        db.execute(
            "WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 4)"
            " INSERT INTO events (account, person_id, reg_id, app_code, definition_id, occurred, received)"
            " SELECT ?, i.person_id, i.reg_id, i.app_code, 'AppLaunch',"
            f" strftime('%Y-%m-%dT%H:%M:%SZ', {now} - ({h('i.rowid * 7 + j', 31)} * 7776) / 1000, 'unixepoch'),"
            " '2024-06-01T00:00:00Z' FROM installations i, k"
            f" WHERE j < {h('i.rowid', 32)} % 6",
            (ACCOUNT,),
        )
        # purchases: one to three for three persons in ten, over the last 60 days
        db.execute(
            "WITH RECURSIVE k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 2)"
            " INSERT INTO events (account, person_id, reg_id, app_code, definition_id, occurred, properties, received)"
            " SELECT ?, p.id, NULL, ?, 'purchase',"
            f" strftime('%Y-%m-%dT%H:%M:%SZ', {now} - ({h('p.id * 5 + j', 33)} * 5184) / 1000, 'unixepoch'),"
            f" json_object('amount', ({h('p.id * 5 + j', 34)} % 30000) / 100.0), '2024-06-01T00:00:00Z'"
            f" FROM persons p, k WHERE {h('p.id', 35)} % 10 < 3 AND j <= {h('p.id', 36)} % 3",
            (ACCOUNT, APP),
        )
        db.execute(
            "INSERT INTO event_definitions VALUES (?, 'purchase', 'purchase', 'purchase', '', ?, ?)",
            (ACCOUNT, '[{"name":"amount","type":"Decimal"}]', "2024-01-01T00:00:00Z"),
        )
        counts = {
            table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("persons", "identities", "installations", "events", "person_tags")
        }
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store, time.perf_counter() - started, counts


def best(repeat: int, work: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``repeat`` runs (seconds) and the last result."""
    times = []
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def context(store: Store) -> Callable[[Callable[[Context], T]], T]:
    def run(work: Callable[[Context], T]) -> T:
        with store.transaction() as db:
            return work(Context(db, Caller(app_code="", account=ACCOUNT), lambda: NOW))

    return run


def query_of(name: str, query: dict[str, Any] | None) -> dict[str, Any]:
    from server_stub.saved_segments import PREDEFINED

    return PREDEFINED[name] if query is None else query


Run = Callable[[Callable[[Context], Any]], Any]


def measure(name: str, raw: dict[str, Any] | None, run: Run, run_sample: Run, repeat: int, scale: float) -> str:
    """One segment's line of the table."""
    saved = "-"
    if raw is not None:
        segment = {"name": name, "query": raw}
        if run(lambda ctx: ctx.db.execute("SELECT 1 FROM segments WHERE name=?", (name,)).fetchone()) is None:
            seconds, _ = best(1, lambda: run(lambda ctx: create_segment(ctx, segment)))
            saved = f"{seconds:.2f}"
        run_sample(lambda ctx: create_segment(ctx, segment))
    parsed = parse_query(query_of(name, raw), NOW)
    count_s, persons = best(repeat, lambda: run(lambda ctx: count_persons(ctx.db, ACCOUNT, parsed)))
    inst_s, installations = best(repeat, lambda: run(lambda ctx: count_installations(ctx.db, ACCOUNT, parsed)))
    page_s, page = best(repeat, lambda: run(lambda ctx: segment_members(ctx, name, limit=20)))
    assert len(page["persons"]) == min(20, persons)
    python_s, (py_persons, py_reached) = best(1, lambda: run_sample(lambda ctx: evaluate_python(ctx, parsed)))
    sql_persons = run_sample(lambda ctx: count_persons(ctx.db, ACCOUNT, parsed))
    sql_reached = run_sample(lambda ctx: registrations(ctx.db, ACCOUNT, parsed))
    assert (len(py_persons), py_reached) == (sql_persons, sql_reached), f"{name}: the evaluators differ"
    extrapolated = python_s * scale
    return (
        f"{name:48} {saved:>7} {persons:9,} {count_s * 1000:9.1f} {installations:9,} {inst_s * 1000:8.1f}"
        f" {page_s * 1000:8.1f} {python_s * 1000:13.0f} {extrapolated:13.1f} {extrapolated / count_s:6.0f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", type=Path, help="the full-size database: built there if missing, else reused")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; SQLite {sqlite3.sqlite_version}")
    tmp = Path(tempfile.mkdtemp(prefix="mobsim-segments-"))
    try:
        path = args.db or tmp / "full.db"
        if path.exists():
            store = Store(path)
            persons = context(store)(lambda ctx: ctx.db.execute("SELECT count(*) FROM persons").fetchone()[0])
            print(f"reusing {path} ({persons:,} persons, {path.stat().st_size / 1e6:,.0f} MB)")
        else:
            store, seconds, counts = build(path, args.persons)
            persons = counts["persons"]
            done = ", ".join(f"{v:,} {k}" for k, v in counts.items())
            print(f"built {done} in {seconds:.1f} s ({path.stat().st_size / 1e6:,.0f} MB)")
        sample, sample_seconds, _ = build(tmp / "sample.db", SAMPLE)
        print(f"built the {SAMPLE:,}-person sample in {sample_seconds:.1f} s")
        run, run_sample = context(store), context(sample)
        header = (f"{'segment':48} {'save s':>7} {'persons':>9} {'count ms':>9} {'inst.':>9} {'inst ms':>8}"
                  f" {'page ms':>8} {'Python ms@20k':>13} {'Python s@full':>13} {'ratio':>7}")  # fmt: skip
        print(header)
        for name, raw in SEGMENTS:
            print(measure(name, raw, run, run_sample, args.repeat, persons / SAMPLE))
        print("ratio: the Python evaluator's time, extrapolated to the full size, over the SQL person count")
        store.close()
        sample.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
