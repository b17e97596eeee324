"""The dashboards the stack deploys, in order, built for one stack's settings."""

from __future__ import annotations

from collections.abc import Callable

from components.settings import Settings
from dashboards import copilot, dvt, platform, qmtl
from dashboards.builder import Dashboard
from dashboards.common import Context, context

DEFINITIONS: tuple[Callable[[Context], Dashboard], ...] = (*qmtl.DASHBOARDS, *dvt.DASHBOARDS, *copilot.DASHBOARDS, *platform.DASHBOARDS)


def build_dashboards(settings: Settings) -> list[Dashboard]:
    """Every dashboard for ``settings``; fails when two share a UID or a title in one folder."""
    ctx = context(settings)
    built = [define(ctx) for define in DEFINITIONS]
    seen: dict[str, str] = {}
    for dashboard in built:
        for key in (dashboard.uid, f"{dashboard.folder}/{dashboard.title}"):
            if key in seen:
                raise ValueError(f"dashboard {dashboard.uid}: {key!r} is already used by dashboard {seen[key]}")
            seen[key] = dashboard.uid
    return built
