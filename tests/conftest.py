"""Shared fixtures, and the CI rule: tests that need a service run under CI=true, never skip."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

SERVICE_MARKERS = ("postgres", "redis", "browser")
ON_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(config, items):
    """On SQLite the PostgreSQL tests are deselected (the suite runs again on PostgreSQL)."""
    if settings.DATABASE_IS_POSTGRES:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("postgres") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


_skipped_service_tests: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and any(item.get_closest_marker(name) for name in SERVICE_MARKERS):
        _skipped_service_tests.append(item.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if ON_CI and _skipped_service_tests:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(
                "CI=true: tests that need PostgreSQL, Redis or a browser skipped: " + ", ".join(_skipped_service_tests),
                red=True,
            )


def require_service(name: str, available: bool, why: str) -> None:
    """Skip locally when a service is missing; under CI the skip is turned into a failure."""
    if not available:
        if ON_CI:
            pytest.fail(f"CI=true but {name} is not available: {why}")
        pytest.skip(f"{name} not available: {why}")


from tests.base import admin_user, api_client_token, outsider, roles, supervisor  # noqa: E402,F401 - shared personas
