"""The upstream versions the serving patches were written for, and the one check they all make.

Every patch of a third-party internal (serving/transport.py, serving/daphne_tuning.py,
serving/handlers.py, and the python-socketio overrides in realtime/server.py and
realtime/manager.py) calls :func:`written_for` before it imports or touches any private
name. The check is exact (``==`` on ``importlib.metadata.version``): a patch read against
4.15.1 says nothing about 4.15.2. On any other version the patch stays off, the library's
own code runs, and one warning line per patch group says so at start-up.

Upgrading one of these libraries (``make lock UPGRADE_PACKAGE=...``): run
``pytest tests/test_upstream_fingerprints.py``; it names each patch whose upstream source
changed. Re-read that upstream code against the patch, fix the patch if needed, then
update the version here and the fingerprints in the test (its docstring says how).

Test hook, not a setting: ``SERVING_PRETEND_VERSIONS`` makes this module report other
versions than the installed ones, so that the "other version" path can be run for real
(tests/test_serving_stock_paths.py). ``*=0`` pretends every distribution is at version
0; ``daphne=9.9,Twisted=1.0`` pretends only those. Read here and nowhere else.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os

logger = logging.getLogger("serving")

# distribution name -> the exact version the patches were written for (the lock pins them)
WRITTEN_FOR: dict[str, str] = {
    "python-engineio": "4.15.1",
    "python-socketio": "5.18.1",
    "daphne": "4.2.3",
    "autobahn": "26.10.2",
    "txaio": "26.6.1",
    "Twisted": "26.10.0",
    "Django": "5.2.19",
}

PRETEND_ENV = "SERVING_PRETEND_VERSIONS"

_checked: dict[str, bool] = {}  # patch group -> result (each group is checked, and warns, once)


def _pretended() -> dict[str, str]:
    raw = os.environ.get(PRETEND_ENV, "")
    pairs = (item.partition("=") for item in raw.split(",") if item.strip())
    return {name.strip().lower(): version.strip() for name, _, version in pairs}


def found(dist: str) -> str | None:
    """The installed version of ``dist`` (None if it is not installed)."""
    pretended = _pretended()
    if pretended:
        version = pretended.get(dist.lower(), pretended.get("*"))
        if version is not None:
            return version
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def written_for(group: str, *dists: str, where: str) -> bool:
    """True when every one of ``dists`` is installed at exactly the version in ``WRITTEN_FOR``.

    Otherwise logs one warning for ``group`` (the setting that turns the patch group on,
    or its name when it has none), naming the versions expected and found and ``where``
    the patch is, and returns False: the caller leaves the library as it is. The result
    is remembered per group, so a group warns once per process however often it is asked.
    """
    if group in _checked:
        return _checked[group]
    installed = {dist: found(dist) for dist in dists}
    mismatched = [(dist, version) for dist, version in installed.items() if version != WRITTEN_FOR[dist]]
    _checked[group] = not mismatched
    if mismatched:
        expected = ", ".join(f"{dist}=={WRITTEN_FOR[dist]}" for dist in dists)
        actual = ", ".join(f"{dist} {version or '(not installed)'}" for dist, version in mismatched)
        logger.warning("%s skipped: written for %s, found %s; the library's own code runs (%s)",
                       group, expected, actual, where)
    return _checked[group]


def forget() -> None:
    """Check (and warn) again from scratch: for tests."""
    _checked.clear()
