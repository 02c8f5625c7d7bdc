"""FastAPI's native OpenTelemetry is on only where the environment configures OpenTelemetry: off, a
Mobile API request does not ask OpenTelemetry's global providers anything (issue 16: about 9 µs of
a request's CPU); on, FastAPI's default behaviour is kept as it is."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from server_stub import create_app
from server_stub.app import telemetry_config

OFF = {"tracing": False, "metrics": False, "logs": False}


@pytest.mark.parametrize(
    "environ",
    [{"OTEL_TRACES_EXPORTER": "otlp"}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
     {"FASTAPI_OTEL_AUTO_CONFIGURE": "true"}, {"PATH": "/bin", "OTEL_SERVICE_NAME": "mobsim"}],
)  # fmt: skip
def test_any_opentelemetry_variable_keeps_fastapis_defaults(environ: dict[str, str]) -> None:
    assert telemetry_config(environ) == {}


@pytest.mark.parametrize(
    "environ",
    [{}, {"PATH": "/bin", "MY_OTEL_X": "1", "otel_lower": "1", "FASTAPI_X": "1"},
     {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, {"OTEL_SDK_DISABLED": " TRUE "}],
)  # fmt: skip
def test_without_one_or_with_the_sdk_disabled_fastapis_telemetry_is_off(environ: dict[str, str]) -> None:
    assert telemetry_config(environ) == OFF


def test_otel_sdk_disabled_false_is_a_configuration_like_any_other() -> None:
    assert telemetry_config({"OTEL_SDK_DISABLED": "false"}) == {}


@pytest.mark.parametrize(("on", "expected"), [(True, {}), (False, OFF)])
@pytest.mark.parametrize("environ", [{}, {"OTEL_TRACES_EXPORTER": "otlp"}, {"OTEL_SDK_DISABLED": "true"}])
def test_the_callers_choice_wins_over_the_environment(
    on: bool, expected: dict[str, bool], environ: dict[str, str]
) -> None:
    assert telemetry_config(environ, on=on) == expected


@pytest.mark.parametrize(
    ("variable", "on", "asked"),
    [
        (None, None, False),
        ("OTEL_TRACES_EXPORTER", None, True),
        (None, True, True),
        ("OTEL_TRACES_EXPORTER", False, False),
    ],
)
def test_a_request_asks_the_global_tracer_provider_only_when_configured(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, on: bool | None, asked: bool
) -> None:
    for name in [n for n in os.environ if n.startswith(("OTEL_", "FASTAPI_OTEL_"))]:
        monkeypatch.delenv(name)
    if variable is not None:
        monkeypatch.setenv(variable, "none")
    calls: list[int] = []
    real = trace.get_tracer_provider

    def counted() -> trace.TracerProvider:
        calls.append(1)
        return real()

    client = TestClient(create_app(memory=True, app_codes=["TELEMETRY-APP"], telemetry=on))
    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    assert client.get("/health").status_code == 200
    assert bool(calls) is asked
