"""The environment is the lock: every locked package installed at its locked version, and
pip finds no broken requirement. An upgrade goes through the inputs and `make lock`."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked(path: Path) -> dict[str, str]:
    """Name -> version for the pins of a lock whose markers apply to this interpreter."""
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker).evaluate():
            continue
        pins[canonicalize_name(name.split("[")[0])] = version
    return pins


def test_every_input_is_in_its_lock_with_hashes():
    for inputs, lock in (("requirements.txt", "requirements.lock"),
                         ("requirements-dev.txt", "requirements-dev.lock")):
        pins = locked(ROOT / lock)
        text = (ROOT / lock).read_text()
        for line in (ROOT / inputs).read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line or line.startswith("-r"):
                continue
            name, version = line.split("==")
            assert pins.get(canonicalize_name(name.split("[")[0])) == version, (lock, line)
        # every pin carries at least one hash (pip --require-hashes refuses otherwise)
        assert text.count("==") <= text.count("--hash=sha256:"), lock


def test_runtime_lock_agrees_with_the_dev_lock():
    runtime, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime


def test_installed_packages_are_the_locked_versions():
    wrong = {}
    for name, version in locked(ROOT / "requirements-dev.lock").items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (installed, version)
    assert not wrong, f"installed vs locked (run `make install`): {wrong}"


@pytest.mark.e2e  # runs pip
def test_pip_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
