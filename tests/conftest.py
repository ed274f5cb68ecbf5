"""Service gating, live stacks, and the two lanes.

Tests that need PostgreSQL or Redis run when DATABASE_URL / REDIS_URL are set and skip
otherwise; under REQUIRE_SERVICES=1 (CI) a missing service fails instead of skipping.

Tests that start processes (daphne, manage.py, node, chromium, ``python -c``...) are
marked ``e2e``, so that ``pytest -m "not e2e"`` (``make test-fast``) is the fast lane:
those using the ``live``/``cluster`` stacks are marked here, the others by hand, and a
test that starts a process without the mark fails at that moment.
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest
from django.conf import settings
from django.test import override_settings

from .live import start_stack

REQUIRE = os.environ.get("REQUIRE_SERVICES") == "1"


def has_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def has_redis() -> bool:
    return bool(os.environ.get("REDIS_URL"))


def need(available: bool, what: str) -> None:
    if available:
        return
    if REQUIRE:
        pytest.fail(f"REQUIRE_SERVICES=1 but {what} is not configured")
    pytest.skip(f"{what} not configured")


@pytest.fixture
def requires_postgres():
    need(has_postgres(), "DATABASE_URL (PostgreSQL)")


@pytest.fixture
def requires_redis():
    need(has_redis(), "REDIS_URL")


def pytest_sessionstart(session):
    if REQUIRE and not (has_postgres() and has_redis()):
        raise pytest.UsageError("REQUIRE_SERVICES=1 needs DATABASE_URL (PostgreSQL) and REDIS_URL")


# --- the e2e lane ------------------------------------------------------------------------

# Session fixtures that start live stacks: a test using one (even through another
# fixture) is e2e. Fixtures that start processes of their own mark their module.
# Fixtures that start a server process; a test using one is e2e whatever its module says.
PROCESS_FIXTURES = frozenset({"live", "cluster", "fast_pings", "fast_reminders", "stock", "short_holds",
                              "each_socket_kind", "throttled_site"})
# Audit events (sys.addaudithook) of every way to start a process: subprocess and
# asyncio subprocesses (subprocess.Popen), os.fork (multiprocessing), os.system...
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.fork", "os.forkpty",
                            "os.exec", "os.spawn", "os.system"})


def mark_process_tests(items) -> None:
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(tryfirst=True)  # before -m "not e2e" deselects
def pytest_collection_modifyitems(config, items):
    mark_process_tests(items)


class UnmarkedProcessError(RuntimeError):
    pass


_unmarked_test: list[str] = []  # the node id of the running test when it is not e2e


def _refuse_processes_in_unmarked_tests(event: str, args) -> None:
    if _unmarked_test and event in PROCESS_EVENTS:
        raise UnmarkedProcessError(
            f"{_unmarked_test[-1]} starts a process ({event} {args[0]!r}) without the e2e mark: "
            "add @pytest.mark.e2e (pytest -m 'not e2e' is the lane without processes)")


sys.addaudithook(_refuse_processes_in_unmarked_tests)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Setup, call and teardown of an unmarked test may not start a process."""
    unmarked = item.get_closest_marker("e2e") is None
    if unmarked:
        _unmarked_test.append(item.nodeid)
    try:
        return (yield)
    finally:
        if unmarked:
            _unmarked_test.pop()


@pytest.fixture(autouse=True)
def _access_log_purged_before_flush(request):
    """Transactional tests end with Django's flush: on SQLite a DELETE FROM every table,
    which the access log's triggers refuse (PostgreSQL's TRUNCATE is not a row DELETE).
    Purge the log first the way an operator would (audit/migrations/0002)."""
    marker = request.node.get_closest_marker("django_db")
    transactional = {"transactional_db", "live_server"} & set(request.fixturenames)
    if not transactional and not (marker and marker.kwargs.get("transaction")):
        yield
        return
    request.getfixturevalue("transactional_db")  # so this teardown runs before the flush
    yield
    from importlib import import_module

    from django.db import connection, transaction

    if connection.vendor != "sqlite":
        return
    triggers = import_module("audit.migrations.0002_journal_immuable")
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in triggers.SQLITE_BACKWARD:
            cursor.execute(sql)
        cursor.execute("DELETE FROM audit_journalacces")
        for sql in triggers.SQLITE_FORWARD:
            cursor.execute(sql)


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    """Each test starts with no throttling history: its own key prefix in the cache.

    Throttle counters live in the cache (local memory, or Redis when REDIS_URL is set);
    without this, logins and sign-ups of earlier tests (or earlier runs, on Redis) would
    count against later ones. Live servers have their own prefix per stack (tests/live.py).
    """
    cache = {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
    with override_settings(CACHES={**settings.CACHES, "default": cache}):
        yield


@pytest.fixture(scope="session")
def live(tmp_path_factory):
    """One embedded-mode daphne (in-memory channel layer), seeded with the demo data.

    Uses PostgreSQL for its database when DATABASE_URL is set, else a SQLite file.
    """
    stack = start_stack(tmp_path_factory.mktemp("live"), postgres=has_postgres())
    yield stack
    stack.close()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """Production mode: two daphne processes on PostgreSQL + Redis."""
    need(has_postgres() and has_redis(), "DATABASE_URL (PostgreSQL) and REDIS_URL")
    stack = start_stack(tmp_path_factory.mktemp("cluster"), servers=2, postgres=True, redis=True)
    yield stack
    stack.close()
