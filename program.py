"""The program a stack runs: the components (components/stack.py) composed with the dashboards as code (dashboards/).

The Pulumi entry point (__main__.py) and the offline render (tooling/mock_runtime.py) both run
:func:`build`. The composition lives here, above both packages, so that components never import
dashboards/ (dashboards/ builds on components' settings, thresholds and Grafana folders).
"""

from __future__ import annotations

from components.settings import Settings
from components.stack import build_stack
from dashboards.registry import build_dashboards


def build(settings: Settings) -> None:
    """Register every resource of the stack ``settings`` describes, its dashboards included."""
    build_stack(settings, build_dashboards)
