"""The program a stack runs: the components (components/stack.py) composed with the dashboards as code (dashboards/).

The Pulumi entry point (__main__.py) and the Automation API's inline program (tooling/engine.py) run
:func:`run`; the offline render (tooling/mock_runtime.py) runs :func:`build`. The composition lives here, above both packages, so that components never import
dashboards/ (dashboards/ builds on components' settings, thresholds and Grafana folders).
"""

from __future__ import annotations

import pulumi

from components.settings import Settings
from components.settings.errors import SettingsError
from components.settings.pulumi_config import settings_from_pulumi
from components.stack import build_stack
from dashboards.registry import build_dashboards


def build(settings: Settings) -> None:
    """Register every resource of the stack ``settings`` describes, its dashboards included."""
    build_stack(settings, build_dashboards)


def run() -> None:
    """The stack's program under the Pulumi engine: settings from the stack's config, then :func:`build`.

    Raises pulumi.RunError (shown without a traceback) naming every bad key."""
    try:
        settings = settings_from_pulumi()
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None
    build(settings)
