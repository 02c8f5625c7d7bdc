"""The installed-base set-up over gevent: its transport, and a process of its own for ``mobsim run``.

``mobsim run`` installs the population before Locust starts, so that the set-up is not inside the
measured window: it runs ``python -m scenarios._setup`` (one process per slice, side by side),
which reads the same option table as the locustfile, installs its slice
(:func:`scenarios._installed_base.establish`), writes the slice's state file and prints one JSON
line per progress step on standard output::

    {"progress": [done, total]}
    {"result": {...SetupResult.as_dict()...}, "saved": N}

Under ``locust -f scenarios`` the same function runs inside each Locust process at test start.
"""

if __name__ == "__main__":  # patch first: the set-up's threads become greenlets
    from gevent import monkey

    monkey.patch_all()

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError
from geventhttpclient.url import URL

from simulator import AppConfig, Outgoing, Reply, TransportError

from ._connections import ConnectionWatch, watch_of

__all__ = ["GeventTransport", "main"]


class GeventTransport:
    """A device transport over geventhttpclient keep-alive connections (one per origin), with no
    stats: the set-up's requests are not the run's. A request whose SDK's client would send it
    again after a reused connection broke before any answer (`Outgoing.retry_stale`) is sent again
    once, as the Locust transport does."""

    __slots__ = ("_clients", "timeout")

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self._clients: dict[str, tuple[HTTPClient, ConnectionWatch | None]] = {}

    def send(self, request: Outgoing) -> Reply:
        url = request.url
        cut = url.find("/", url.find("://") + 3)
        origin, target = (url, "/") if cut < 0 else (url[:cut], url[cut:])
        route = self._clients.get(origin)
        if route is None:
            made = HTTPClient.from_url(
                URL(origin), connection_timeout=self.timeout, network_timeout=self.timeout, concurrency=1
            )
            route = self._clients[origin] = (made, watch_of(made))
        client, watch = route
        for attempt in (0, 1):
            response = None
            if watch is not None:
                watch.begin()
            try:
                response = client.request(request.method, target, body=request.content, headers=request.headers)
                content = response.read()
                headers = {name.lower(): value for name, value in response.items()}
                status = response.status_code
            except HTTPConnectionClosed as exc:
                reused = watch is not None and watch.end()
                if attempt == 0 and request.retry_stale and reused:
                    continue
                raise TransportError(f"{request.method} {url}: {exc!r}", request) from exc
            except (OSError, gevent.Timeout, ValueError, HTTPParseError) as exc:
                raise TransportError(f"{request.method} {url}: {exc!r}", request) from exc
            finally:
                if watch is not None:
                    watch.end()
                if response is not None:
                    response.release()
            return Reply(status, headers, content)
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close(self) -> None:
        for client, _ in self._clients.values():
            client.close()
        self._clients.clear()


def _parser() -> argparse.ArgumentParser:
    from ._options import OPTIONS

    parser = argparse.ArgumentParser(prog="python -m scenarios._setup", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--slice", default="0/1", help="INDEX/COUNT of the population this process installs")
    parser.add_argument("--concurrency", type=int, default=16)
    for option in OPTIONS:
        parser.add_argument(f"--{option.name}", **option.kwargs())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ._installed_base import establish
    from ._options import population_for
    from ._population import (
        Slice,
        load_state,
        prune_state_files,
        slice_state_path,
    )

    opts = _parser().parse_args(argv)
    index, _, count = opts.slice.partition("/")
    part = Slice(int(index), int(count))
    population = population_for(opts, AppConfig(opts.app_code, base_url=opts.host.rstrip("/")), part)
    path = Path(opts.state_file)
    resumed = load_state(population, path)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            _emit({"progress": [done, total]})

    result = establish(
        population,
        rate=(opts.max_rps or 0.0) / part.count,
        concurrency=opts.concurrency,
        progress=progress,
        transport_factory=GeventTransport,
    )
    saved = population.save(slice_state_path(path, part))
    prune_state_files(path, part)
    _emit({"result": {**result.as_dict(), "resumed": resumed}, "saved": saved})
    return 0


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
