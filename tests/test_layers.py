"""The layout holds: no package imports another package's private (``_``) modules or names, and the
Locust-free side of the scenarios stays free of Locust."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("simulator", "server_stub", "scenarios", "mobsim", "demo", "conformance")


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every absolute import in a file ('' as name for ``import x``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def _owner(path: Path) -> str:
    """The package a file belongs to; tests/<package>/ count as that package's own tests."""
    parts = path.relative_to(ROOT).parts
    if parts[0] == "tests" and len(parts) > 2 and parts[1] in PACKAGES:
        return parts[1]
    if parts[0] == "tests" and len(parts) > 2 and parts[1] == "mobsim_cli":
        return "mobsim"
    return parts[0]


FILES = sorted(p for top in (*PACKAGES, "bench", "tests") for p in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_module_or_name_of_another_package_is_imported(path: Path) -> None:
    owner = _owner(path)
    for module, name in _imports(path):
        top = module.split(".")[0]
        if top not in PACKAGES or top == owner:
            continue
        private = [part for part in module.split(".")[1:] if part.startswith("_")]
        assert not private, f"{path.relative_to(ROOT)} imports {module} (private to {top})"
        assert not (name.startswith("_") and name != "__version__"), f"{path.relative_to(ROOT)} imports {module}.{name}"


def test_the_scenarios_package_and_mobsim_run_load_no_locust() -> None:
    code = (
        "import sys, scenarios, mobsim.run; "
        "bad = sorted(m for m in ('locust', 'gevent', 'geventhttpclient') if m in sys.modules); "
        "sys.exit(f'loaded {bad}' if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "contract").rglob("*.py")), ids=lambda p: p.name)
def test_the_contract_imports_nothing_else_of_the_project(path: Path) -> None:
    for module, _ in _imports(path):
        assert module.split(".")[0] not in PACKAGES, f"contract/{path.name} imports {module}"


def test_importing_the_server_loads_no_device_catalogue_faker_or_httpx() -> None:
    code = (
        "import sys, server_stub, server_stub.app, server_stub.serve; "
        "tops = {m.split('.')[0] for m in sys.modules}; "
        "bad = sorted(tops & {'simulator', 'scenarios', 'demo', 'conformance', 'mobsim', 'faker', 'httpx', 'locust'}); "
        "sys.exit(f'loaded {bad}' if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("top", ["scenarios", "demo", "mobsim", "conformance"])
def test_drivers_read_devices_through_their_public_api_not_their_state_bits(top: str) -> None:
    import re

    for path in sorted((ROOT / top).rglob("*.py")):
        text = path.read_text()
        assert not re.search(r"device\.state\b|Flag\.(UNINSTALLED|DEPERSONALIZE_PENDING)", text), path.name
