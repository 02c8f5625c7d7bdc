"""The reference user for ``bench/generator.py``: a bare ``FastHttpUser`` that POSTs one small JSON
body in a loop, with no think time: Locust's own cost per request, nothing else.

The request is shaped like a device's (SDK-like headers, a JSON body) and sized by the bench to
the scenario's average request: ``MOBSIM_BARE_HEAD_BYTES`` (request line and headers, as the
server receives them) and ``MOBSIM_BARE_BODY_BYTES``. Its name starts with ``_`` so that
``locust -f bench`` and ``locust -f scenarios`` never pick it up by accident.
"""

from __future__ import annotations

import json
import os

from locust import FastHttpUser, constant, task

PATH = "/mobile/1/appinstance/bench-000000000001/user/events/session"
HEAD_BYTES = int(os.environ.get("MOBSIM_BARE_HEAD_BYTES", "600"))
BODY_BYTES = int(os.environ.get("MOBSIM_BARE_BODY_BYTES", "300"))


def _body(size: int) -> bytes:
    data = {"systemData": {"sdkVersion": "13.1.0", "osVersion": "14"}, "sessionStarts": [], "pad": ""}
    empty = len(json.dumps(data, separators=(",", ":")))
    data["pad"] = "x" * max(0, size - empty)
    return json.dumps(data, separators=(",", ":")).encode()


def _headers(head_size: int, body_size: int) -> dict[str, str]:
    headers = {
        "Authorization": "App 0123456789abcdef0123456789abcdef-01234567-89ab-cdef-0123-456789abcdef",
        "applicationcode": "0123456789",
        "User-Agent": "",
        "installationid": "01234567-89ab-4def-8123-456789abcdef",
        "Accept": "application/json",
        "Accept-Encoding": "gzip",
        "pushregistrationid": "bench-000000000001",
        "foreground": "true",
        "sessionId": "bench-000000000001_1714557600000",
        "Content-Type": "application/json",
    }
    # What geventhttpclient adds: the request line, Host and Content-Length.
    fixed = len(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:00000\r\nContent-Length: {body_size}\r\n\r\n")
    fixed += sum(len(f"{k}: {v}\r\n") for k, v in headers.items())
    headers["User-Agent"] = "Mobsim/1.0 (bench; " + "x" * max(0, head_size - fixed - 20) + ")"
    return headers


BODY = _body(BODY_BYTES)
HEADERS = _headers(HEAD_BYTES, len(BODY))


class BareUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def post(self) -> None:
        self.client.post(PATH, data=BODY, headers=HEADERS)  # type: ignore[arg-type]  # bytes, as a device sends
