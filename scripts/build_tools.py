"""Build the Pulumi CLI, the Kubernetes provider, the API server and the Prometheus-side programs from their
Go modules into build/tools/bin/ (``make tools``).

    python -m scripts.build_tools [--only NAME ...] [--list]

Versions come from tools/versions.yaml and, for the programs the stack deploys, from the image tags in
components/settings/defaults.yaml. A tool whose stamp matches is not rebuilt. After the builds the
provider is registered with the CLI under the plugin version the Python SDK asks for (in
build/tools/pulumi-home, not ~/.pulumi).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from tooling.go_tools import BIN_DIR, PLUGIN_DIR, PULUMI_HOME, ToolBuildError, build, load_tools, sdk_plugin_version


def register_provider() -> None:
    """``pulumi plugin install resource kubernetes <sdk version> --file <built provider>``, once per version."""
    version = sdk_plugin_version()
    installed = PULUMI_HOME / "plugins" / f"resource-kubernetes-v{version}"
    binary = PLUGIN_DIR / "pulumi-resource-kubernetes"
    if installed.exists() and (installed / binary.name).exists() and (installed / binary.name).stat().st_mtime >= binary.stat().st_mtime:
        return
    env = dict(os.environ, PULUMI_HOME=str(PULUMI_HOME), PULUMI_SKIP_UPDATE_CHECK="1")
    command = [str(BIN_DIR / "pulumi"), "plugin", "install", "resource", "kubernetes", version, "--file", str(binary), "--reinstall"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ToolBuildError(f"`{' '.join(command)}` failed: {result.stderr.strip() or result.stdout.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.build_tools", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="build only this tool (repeatable)")
    parser.add_argument("--list", action="store_true", help="print each tool, its module version and binaries, and exit")
    args = parser.parse_args(argv)
    try:
        tools = load_tools()
        unknown = sorted(set(args.only) - set(tools))
        if unknown:
            print(f"error: --only {', '.join(unknown)}: not in tools/versions.yaml (known: {', '.join(tools)})", file=sys.stderr)
            return 2
        if args.list:
            for tool in tools.values():
                print(f"{tool.name}\t{tool.module}@{tool.version}\t{' '.join(tool.binaries)}")
            return 0
        for name, tool in tools.items():
            if args.only and name not in args.only:
                continue
            started = time.monotonic()
            if build(tool, bin_dir=PLUGIN_DIR if tool.provider_main else BIN_DIR):
                print(f"==> tools: {name} built in {time.monotonic() - started:.0f} s", file=sys.stderr)
        if (BIN_DIR / "pulumi").exists() and (PLUGIN_DIR / "pulumi-resource-kubernetes").exists():
            register_provider()
    except ToolBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
