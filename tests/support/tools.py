"""The programs ``make tools`` builds from their Go modules (tooling/go_tools.py), as the tests run them.

Every test that runs Prometheus, promtool, Alertmanager, amtool, the Pushgateway, node-exporter or OpenTofu
runs the build in build/tools/bin/, at the version the stack deploys, by its absolute path: a program of the
same name elsewhere on PATH (an older distribution package) is never picked up. A missing build fails the
test with :class:`tooling.go_tools.ToolBuildError`, whose message names ``make tools``; it is never skipped.
"""

from __future__ import annotations

from tooling.go_tools import require


def tool(name: str) -> str:
    """The absolute path of the built ``name`` (upstream binary name: ``promtool``, ``node_exporter``, ``tofu``)."""
    return str(require(name)[name])
