"""The deployment files hold together, checked offline: the Dockerfile, deploy/compose.yaml and
deploy/kubernetes/ (docs/deploy.md).

Every YAML document parses and has what its kind needs; selectors match the pod labels, services
reach declared container ports, every environment variable a command uses is defined, and every
command line is a real one: ``mobsim`` lines parse with mobsim's own parser, ``locust`` lines with
Locust's (mobsim's options added) and pass mobsim's option checks. Where ``kubectl`` is installed it
renders the Kubernetes manifests itself (``kubectl kustomize``, offline); ``kubectl apply
--dry-run=client`` needs an API server, so it runs only where one is configured. The image build
is in ``.ci/run``, where a Docker daemon answers.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from mobsim.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
IMAGE_ROOT = "/app"
"""Where the Dockerfile puts the repository's files in the image."""


# -- helpers ----------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined: (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def instruction(name: str) -> list[str]:
    return [rest for word, rest in dockerfile() if word == name]


def image_entrypoint() -> list[str]:
    return exec_form(instruction("ENTRYPOINT")[-1])


@functools.cache
def mobsim_parser() -> argparse.ArgumentParser:
    return build_parser()


@functools.cache
def locust_parser() -> Any:
    from locust.argument_parser import get_empty_argument_parser, setup_parser_arguments

    from scenarios import add_options

    parser = get_empty_argument_parser(add_help=False, default_config_files=[])
    setup_parser_arguments(parser)
    add_options(parser)
    return parser


def parse_mobsim(argv: list[str]) -> argparse.Namespace:
    try:
        return mobsim_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"mobsim {shlex.join(argv)} does not parse (exit {exc.code})") from None


def parse_locust(argv: list[str]) -> argparse.Namespace:
    """A Locust command line as Locust's parser reads it, with mobsim's options (no environment,
    no config file), then mobsim's own checks of its option values."""
    from scenarios import validate

    try:
        opts: argparse.Namespace = locust_parser().parse_args(argv, env_vars={})
    except SystemExit as exc:
        raise AssertionError(f"locust {shlex.join(argv)} does not parse (exit {exc.code})") from None
    assert validate(opts, tags=opts.tags, exclude_tags=opts.exclude_tags) == [], argv
    locustfile = opts.locustfile
    assert locustfile.startswith(IMAGE_ROOT + "/"), locustfile
    assert (ROOT / locustfile.removeprefix(IMAGE_ROOT + "/") / "audience.py").is_file(), locustfile
    return opts


def parse_command(argv: list[str]) -> argparse.Namespace:
    """``mobsim ...`` or ``locust ...``: the program's own parser."""
    program, *args = argv
    assert program in ("mobsim", "locust"), argv
    return parse_mobsim(args) if program == "mobsim" else parse_locust(args)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


_COMPOSE_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, unset: set[str]) -> Any:
    """Compose's interpolation with nothing set in the environment: ``${X:-default}`` gives the
    default, ``${X:?message}`` (required) a stand-in value, and a bare ``${X}`` is recorded in
    ``unset`` (it would be empty)."""
    if isinstance(value, dict):
        return {k: interpolate(v, unset) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, unset) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, operator, word = match.groups()
        if operator in (":-", "-"):
            return str(word)
        if operator in (":?", "?"):
            assert word, f"${{{name}:?}} has no message saying how to set it"
            return f"stand-in-{name.lower()}"
        unset.add(name)
        return ""

    bare = re.search(r"(?<!\$)\$[A-Za-z_]", value)
    assert bare is None, f"{value!r}: write ${{NAME:-default}} or ${{NAME:?message}}, not $NAME"
    return _COMPOSE_VARIABLE.sub(one, value)


def compose_services() -> dict[str, dict[str, Any]]:
    unset: set[str] = set()
    services: dict[str, dict[str, Any]] = interpolate(compose()["services"], unset)
    assert not unset, f"variables used with no default and not required: {sorted(unset)}"
    return services


def compose_command(service: dict[str, Any]) -> list[str]:
    entrypoint = service.get("entrypoint", image_entrypoint())
    command = service.get("command", exec_form(instruction("CMD")[-1]))
    assert isinstance(entrypoint, list) and isinstance(command, list), "exec form (lists), not shell strings"
    return [str(part) for part in [*entrypoint, *command]]


@functools.cache
def _manifests() -> str:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return json.dumps(docs)


def manifests() -> list[dict[str, Any]]:
    """Every document of every YAML file in deploy/kubernetes/ but the kustomization (a fresh copy)."""
    docs: list[dict[str, Any]] = json.loads(_manifests())
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    first: dict[str, Any] = containers[0]
    return first


def container_env(item: dict[str, Any]) -> dict[str, str]:
    """The container's environment, each reference resolved (a Secret's value as a stand-in)."""
    maps = by_kind("ConfigMap")
    env: dict[str, str] = {}
    for var in item.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            assert ref["name"] in maps, f"{var['name']}: no ConfigMap {ref['name']}"
            assert ref["key"] in maps[ref["name"]]["data"], f"{var['name']}: no key {ref['key']} in {ref['name']}"
            env[var["name"]] = str(maps[ref["name"]]["data"][ref["key"]])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            env[var["name"]] = f"stand-in-{var['valueFrom']['secretKeyRef']['name']}"
        else:
            raise AssertionError(f"{var['name']}: neither a value nor a ConfigMap or Secret key")
    return env


def kubernetes_command(deployment: dict[str, Any]) -> list[str]:
    """The container's command line as the kubelet runs it: ``command`` replaces the image's
    entrypoint, ``args`` its CMD, and ``$(VAR)`` is the container's variable."""
    item = container(deployment)
    env = container_env(item)
    argv = [*item.get("command", image_entrypoint()), *item.get("args", exec_form(instruction("CMD")[-1]))]

    def resolve(match: re.Match[str]) -> str:
        assert match.group(1) in env, f"$({match.group(1)}) is not defined in {deployment['metadata']['name']}"
        return env[match.group(1)]

    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", resolve, str(part)) for part in argv]


def secret_creation_documented(name: str, key: str) -> bool:
    return f"kubectl create secret generic {name} --from-literal={key}=" in (ROOT / "docs" / "deploy.md").read_text()


# -- the Dockerfile ---------------------------------------------------------------------------------


def test_the_image_is_python_311_slim_runs_as_a_user_and_enters_mobsim() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = instruction("USER")
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    user_at = max(i for i, (word, _) in enumerate(steps) if word == "USER")
    assert all(word != "RUN" for word, _ in steps[user_at:]), "nothing runs as root after USER"
    assert image_entrypoint() == ["mobsim"]
    assert any("pip install ." in rest.split("&&")[0] for rest in instruction("RUN"))


def test_the_image_copies_every_package_that_pip_install_dot_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {}
    for rest in instruction("COPY"):
        *sources, target = rest.split()
        for source in sources:
            copied[source] = target
    assert {"pyproject.toml", project["project"]["readme"]} <= set(copied)
    for package in packages:
        assert package in copied, f"COPY {package} is missing: pip install . would leave it out"
        assert copied[package] == f"./{package}"
    workdirs = instruction("WORKDIR")
    assert workdirs[0] == IMAGE_ROOT  # the sources (and /app/scenarios, the locustfile directory) are there
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "**/*.db"} <= ignored
    assert not ignored & {*packages, "pyproject.toml", "README.md"}, "the build needs them"


def test_the_default_command_is_a_server_on_every_interface_with_its_port_exposed_and_health_checked() -> None:
    args = parse_mobsim(exec_form(instruction("CMD")[-1]))
    assert args.command == "serve" and args.host == "0.0.0.0" and args.db.startswith("/data/")
    assert str(args.port) in " ".join(instruction("EXPOSE")).split()
    assert instruction("VOLUME") and "/data" in instruction("VOLUME")[-1]
    check = instruction("HEALTHCHECK")[-1]
    probe = exec_form(check.split("CMD", 1)[1])
    assert probe[0] == "python"
    assert f"http://127.0.0.1:{args.port}/health" in probe[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from server_stub import create_app

    with TestClient(create_app(memory=True)) as client:  # the route the probe asks, with no token
        assert client.get("/health").status_code == 200


# -- compose ----------------------------------------------------------------------------------------


def test_compose_runs_a_server_a_master_and_scaled_workers_pointed_at_them() -> None:
    services = compose_services()
    assert set(services) == {"server", "master", "worker"}
    server = parse_command(compose_command(services["server"]))
    master = parse_command(compose_command(services["master"]))
    worker = parse_command(compose_command(services["worker"]))
    assert server.command == "serve" and server.host == "0.0.0.0"
    assert server.db.startswith("/data/") and any(v.endswith(":/data") for v in services["server"]["volumes"])
    assert server.app_code == [services["server"]["environment"]["MOBSIM_APP_CODE"]]
    # The master drives the server's service name and port, and waits for the scaled workers.
    assert master.master and not master.worker and master.host == f"http://server:{server.port}"
    assert master.max_rps == 0  # the deployment's own server: no remote-target cap
    assert master.expect_workers == int(services["worker"]["deploy"]["replicas"]) >= 1
    assert worker.worker and worker.master_host == "master" and worker.master_port == master.master_bind_port
    assert services["worker"]["depends_on"] == ["master"]
    assert services["master"]["depends_on"]["server"]["condition"] == "service_healthy"
    published = {p.split(":")[-1]: p for p in services["master"]["ports"] + services["server"]["ports"]}
    assert set(published) == {str(master.web_port), str(server.port)}
    assert all(p.startswith("127.0.0.1:") for p in published.values()), "published on this machine only"
    assert set(compose()["volumes"]) == {v.split(":")[0] for v in services["server"]["volumes"]}


def test_compose_gives_the_server_and_the_master_the_app_code_and_requires_the_token() -> None:
    raw = compose()
    for name in ("server", "master"):
        env = raw["services"][name]["environment"]
        assert {"MOBSIM_APP_CODE", "MOBSIM_INSPECT_TOKEN"} <= set(env), name
        assert env["MOBSIM_INSPECT_TOKEN"].startswith("${MOBSIM_INSPECT_TOKEN:?"), "no default token: it is a secret"
    assert "environment" not in raw["services"]["worker"]  # the master passes the options; no secret there
    # The name is the one `mobsim serve` reads (its --help says so).
    serve = mobsim_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    assert "MOBSIM_INSPECT_TOKEN" in serve.format_help()


def test_the_interpolation_check_catches_an_undefined_variable() -> None:
    unset: set[str] = set()
    assert interpolate(["--a", "${A:-1}", "${B:?set B}", "${C}"], unset) == ["--a", "1", "stand-in-b", ""]
    assert unset == {"C"}
    with pytest.raises(AssertionError, match="not \\$NAME"):
        interpolate("--host $HOST", set())


# -- Kubernetes -------------------------------------------------------------------------------------

REQUIRED = {
    "Deployment": ("apiVersion", "kind", "metadata", "spec"),
    "Service": ("apiVersion", "kind", "metadata", "spec"),
    "PersistentVolumeClaim": ("apiVersion", "kind", "metadata", "spec"),
    "ConfigMap": ("apiVersion", "kind", "metadata", "data"),
}


def test_every_manifest_has_what_its_kind_needs() -> None:
    docs = manifests()
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == sorted(["ConfigMap", "PersistentVolumeClaim", *["Deployment"] * 3, *["Service"] * 2])
    api = {"Deployment": "apps/v1", "Service": "v1", "PersistentVolumeClaim": "v1", "ConfigMap": "v1"}
    for doc in docs:
        for key in REQUIRED[doc["kind"]]:
            assert key in doc, (doc["kind"], key)
        assert doc["apiVersion"] == api[doc["kind"]]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_deployments_select_their_own_pods_and_mount_what_they_declare() -> None:
    claims = by_kind("PersistentVolumeClaim")
    for name, deployment in by_kind("Deployment").items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector and selector.items() <= labels.items(), name
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for mount in container(deployment).get("volumeMounts", []):
            assert mount["name"] in volumes, (name, mount)
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
    others = [d["spec"]["selector"]["matchLabels"] for d in by_kind("Deployment").values()]
    assert len({tuple(sorted(s.items())) for s in others}) == len(others), "two Deployments select the same pods"


def test_services_reach_ports_their_pods_declare() -> None:
    deployments = by_kind("Deployment")
    for name, service in by_kind("Service").items():
        selected = [
            d for d in deployments.values()
            if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]  # fmt: skip
        assert len(selected) == 1, name
        ports = container(selected[0])["ports"]
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert any(target in (p.get("name"), p["containerPort"]) for p in ports), (name, port)


def test_the_commands_are_a_server_a_master_and_workers_that_find_each_other() -> None:
    deployments = by_kind("Deployment")
    services = by_kind("Service")
    server = parse_command(kubernetes_command(deployments["mobsim-server"]))
    master = parse_command(kubernetes_command(deployments["locust-master"]))
    worker = parse_command(kubernetes_command(deployments["locust-worker"]))
    assert server.command == "serve" and server.host == "0.0.0.0" and server.db.startswith("/data/")
    assert deployments["mobsim-server"]["spec"]["replicas"] == 1  # one server per SQLite file
    assert deployments["mobsim-server"]["spec"]["strategy"]["type"] == "Recreate"
    probes = container(deployments["mobsim-server"])
    assert probes["readinessProbe"]["httpGet"]["path"] == probes["livenessProbe"]["httpGet"]["path"] == "/health"
    # The master drives the server's Service; the workers reach the master's Service on its port.
    server_port = {p["name"]: p["port"] for p in services["mobsim-server"]["spec"]["ports"]}
    assert master.master and master.host == f"http://mobsim-server:{server_port['http']}"
    assert server_port["http"] == server.port
    assert master.max_rps == 0
    master_ports = {p["name"]: p["port"] for p in services["locust-master"]["spec"]["ports"]}
    assert master_ports == {"master": master.master_bind_port, "web": master.web_port} == {"master": 5557, "web": 8089}
    assert worker.worker and worker.master_host == "locust-master" and worker.master_port == master_ports["master"]
    # Each worker's slice is its index modulo --expect-workers: that is the worker replica count.
    assert master.expect_workers == deployments["locust-worker"]["spec"]["replicas"] >= 1


def test_the_server_and_the_master_get_the_inspection_token_from_the_secret_the_docs_create() -> None:
    deployments = by_kind("Deployment")
    for name in ("mobsim-server", "locust-master"):
        env = container(deployments[name])["env"]
        token = [v for v in env if v["name"] == "MOBSIM_INSPECT_TOKEN"]
        assert token and "secretKeyRef" in token[0]["valueFrom"], name
    assert "env" not in container(deployments["locust-worker"])  # the master passes the options; no secret there
    for deployment in deployments.values():
        for var in container(deployment).get("env", []):
            if "secretKeyRef" in var.get("valueFrom", {}):
                ref = var["valueFrom"]["secretKeyRef"]
                assert secret_creation_documented(ref["name"], ref["key"]), ref


def test_an_undefined_variable_in_a_container_command_is_caught() -> None:
    deployment = json.loads(json.dumps(by_kind("Deployment")["locust-master"]))
    container(deployment)["env"] = [v for v in container(deployment)["env"] if v["name"] != "MOBSIM_WORKERS"]
    with pytest.raises(AssertionError, match=r"\$\(MOBSIM_WORKERS\) is not defined"):
        kubernetes_command(deployment)


def _kubectl(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None
    return subprocess.run([kubectl, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_renders_the_manifests_offline(tmp_path: Path) -> None:
    # An empty kubeconfig: kubectl must not talk to whatever listens on this machine's port 8080.
    (tmp_path / "config").write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    proc = _kubectl("kustomize", str(KUBERNETES), env={**os.environ, "KUBECONFIG": str(tmp_path / "config")})
    assert proc.returncode == 0, proc.stderr
    rendered = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in manifests()
    )
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mobsim" for d in rendered)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_accepts_the_manifests_in_a_client_dry_run() -> None:
    if not os.environ.get("KUBECONFIG") and not (Path.home() / ".kube" / "config").exists():
        pytest.skip(
            "no cluster configured: `kubectl apply --dry-run=client` still asks an API server for its kinds "
            "(discovery); the manifests were rendered offline by `kubectl kustomize`"
        )
    proc = _kubectl("apply", "--dry-run=client", "--validate=false", "--request-timeout=10s", "-k", str(KUBERNETES))
    unreachable = r"connection refused|unable to recognize|no such host|i/o timeout"
    if proc.returncode != 0 and re.search(unreachable, proc.stderr):
        pytest.skip(f"the configured cluster does not answer: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
