"""Build the programs the tests and the deploy test run from their Go modules (``make tools``).

Each tool of ``tools/versions.yaml`` is built with the ordinary ``go`` command in a small wrapper module
under ``build/tools/src/<name>@<version>/`` that requires the upstream module at its version: a module whose
go.mod replaces parts of its own repository with directories (``../sdk``, ``./staging/src/k8s.io/api``)
cannot be built by ``go install <pkg>@<version>``, so each such replace becomes a requirement on the
published module at ``local_replaces``; replaces to other modules are carried over unchanged.

Outputs go to ``build/tools/bin/`` and a stamp per tool, named by its version and a digest of its recipe,
to ``build/tools/stamps/``: a warm run builds nothing. Nothing fetched is written into the repository.

Errors: :class:`ToolBuildError` names the tool, the command and the last lines of its output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.paths import REPO_ROOT, REQUIREMENTS, SETTINGS_DEFAULTS, TOOLS_DIR
from components.paths import TOOLS_VERSIONS as VERSIONS_FILE

BIN_DIR = TOOLS_DIR / "bin"
# Providers are kept off PATH: the engine would take one from PATH at any version (and say so), where the
# deploy test means it to load the plugin registered under the SDK's version in PULUMI_HOME.
PLUGIN_DIR = TOOLS_DIR / "plugins"
SHARE_DIR = TOOLS_DIR / "share"
SRC_DIR = TOOLS_DIR / "src"
STAMP_DIR = TOOLS_DIR / "stamps"
# The Pulumi CLI's own state (plugins, credentials) for the tests and the deploy test, apart from ~/.pulumi.
PULUMI_HOME = TOOLS_DIR / "pulumi-home"
MAKE_COMMAND = "make tools"

# The component kinds of a collector recipe, as otelcol.Factories names their maps (Go type: <kind>.Factory).
COLLECTOR_KINDS = {"receivers": "receiver", "processors": "processor", "exporters": "exporter", "connectors": "connector", "extensions": "extension"}
# Where the generated collector reads its configuration from (--config file:... and ${env:...}).
COLLECTOR_PROVIDERS = ("go.opentelemetry.io/collector/confmap/provider/fileprovider", "go.opentelemetry.io/collector/confmap/provider/envprovider")
# The collector's own telemetry (its otelcol_* metrics); a package of the service module, at the collector's release.
COLLECTOR_TELEMETRY = "go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

_IMAGE_TAG = re.compile(r":v?(?P<version>\d+\.\d+\.\d+)$")
_SEMVER = re.compile(r"^v(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)")


class ToolBuildError(RuntimeError):
    """A tool could not be built or is missing; the message says which and what to run."""


@dataclass(frozen=True)
class Tool:
    """One entry of tools/versions.yaml, resolved: versions are full module versions (``v1.2.3``)."""

    name: str
    module: str
    version: str
    tag: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    ldflags: str = ""
    local_replaces: str | None = None
    provider_main: str | None = None
    # Files of the module copied to build/tools/share/<name>/ (data the program reads at run time).
    data: tuple[str, ...] = ()
    # An OpenTelemetry Collector of our own: (kind, component modules) pairs registered by a generated main
    # (kind: receivers, processors, exporters, connectors, extensions), each module at ``version``; the
    # collector's v1 modules (confmap providers) at ``stable_version``.
    collector: tuple[tuple[str, tuple[str, ...]], ...] = ()
    stable_version: str | None = None
    # Whether the release's otelcol.Factories takes the telemetry factory (its Telemetry field): later releases
    # do; v0.128.0 has no such field (its service builds its own telemetry). Written as ``telemetry_factory``.
    telemetry_factory: bool = True
    # A main package of this repository (a directory under tools/) built against the module, in place of packages.
    local_main: str | None = None

    @property
    def key(self) -> str:
        """``name@version+digest``: changes whenever anything that shapes the build changes."""
        parts: list[Any] = [self.module, self.version, self.tag, self.packages, self.binaries, self.ldflags, self.local_replaces, self.provider_main, self.data]
        if self.collector:
            parts += [self.collector, self.stable_version, collector_main(self)]
        if self.local_main:
            # The sources too: an edit rebuilds (and the other tools' keys stay as they were).
            parts.append({path.name: path.read_text(encoding="utf-8") for path in sorted((REPO_ROOT / self.local_main).glob("*.go"))})
        recipe = json.dumps(parts, sort_keys=True)
        return f"{self.name}@{self.version}+{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"

    def paths(self, bin_dir: Path = BIN_DIR) -> list[Path]:
        return [bin_dir / binary for binary in self.binaries] + [SHARE_DIR / self.name / Path(path).name for path in self.data]


def _image_version(path: str, defaults: Mapping[str, Any]) -> str:
    node: Any = defaults["common"]
    for part in path.split("."):
        node = node[part]
    match = _IMAGE_TAG.search(str(node))
    if match is None:
        raise ToolBuildError(f"{SETTINGS_DEFAULTS.name}: common.{path} = {node!r} has no x.y.z tag to build")
    return "v" + match["version"]


def _module_version(tag: str, rule: str | None) -> str:
    if rule is None:
        return tag
    if rule == "prometheus3":
        match = _SEMVER.match(tag)
        if match is None or match["major"] != "3":
            raise ToolBuildError(f"prometheus3 version rule needs a 3.x.y tag, got {tag}")
        return f"v0.{300 + int(match['minor'])}.{match['patch']}"
    raise ToolBuildError(f"{VERSIONS_FILE.name}: unknown module_version rule {rule!r}")


def _flag(entry: Mapping[str, Any], key: str, name: str, versions_file: Path) -> bool:
    """A tool's boolean option (default true); ToolBuildError naming the tool, key and value otherwise."""
    value = entry.get(key, True)
    if not isinstance(value, bool):
        raise ToolBuildError(f"{versions_file.name}: {name}: {key} = {value!r}; accepted: true or false")
    return value


def sdk_plugin_version(package: str = "pulumi-kubernetes") -> str:
    """The version ``package`` is pinned at in requirements.txt (the plugin version its SDK asks the engine for)."""
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        name, _, version = line.partition("==")
        if name.strip() == package:
            return version.strip()
    raise ToolBuildError(f"{REQUIREMENTS.name} pins no {package}")


def load_tools(versions_file: Path = VERSIONS_FILE, defaults_file: Path = SETTINGS_DEFAULTS) -> dict[str, Tool]:
    """Every tool of ``versions_file``, with image-pinned versions read from ``defaults_file``."""
    spec = yaml.safe_load(versions_file.read_text(encoding="utf-8"))["tools"]
    defaults = yaml.safe_load(defaults_file.read_text(encoding="utf-8"))
    tools: dict[str, Tool] = {}
    for name, entry in spec.items():
        if "version_file" in entry:
            entry = {**entry, "version": "v" + (REPO_ROOT / entry["version_file"]).read_text(encoding="utf-8").strip().removeprefix("v")}
        tag = _image_version(entry["image"], defaults) if "image" in entry else str(entry.get("release", entry["version"]))
        version = _module_version(tag, entry.get("module_version")) if "image" in entry else str(entry["version"])
        packages = tuple(entry.get("packages", []))
        binaries = tuple(entry.get("binaries") or [Path(p).name for p in packages])
        if entry.get("provider_main"):
            binaries = (Path(entry["provider_main"]).name,)
        collector = tuple((kind, tuple(modules)) for kind, modules in (entry.get("collector") or {}).items())
        unknown = sorted({kind for kind, _ in collector} - set(COLLECTOR_KINDS))
        if unknown:
            raise ToolBuildError(f"{versions_file.name}: {name}: collector kinds {unknown}; accepted: {', '.join(COLLECTOR_KINDS)}")
        if collector and not entry.get("stable_version"):
            raise ToolBuildError(f"{versions_file.name}: {name}: a collector needs stable_version (its v1 modules' release)")
        if entry.get("local_main"):
            binaries = (Path(entry["local_main"]).name,)
        if len(binaries) != max(len(packages), 1):
            raise ToolBuildError(f"{versions_file.name}: {name}: one binary name per package")
        semver = _SEMVER.match(tag)
        fields = {"tag": tag, "version": tag.removeprefix("v"), "release": tag}
        if semver:
            fields |= {"major": semver["major"], "minor": semver["minor"]}
        tools[name] = Tool(
            name=name,
            module=entry["module"],
            version=version,
            tag=tag,
            packages=packages,
            binaries=binaries,
            ldflags=" ".join(str(entry.get("ldflags", "")).split()).format(**fields),
            local_replaces=str(entry["local_replaces"]).format(**fields) if "local_replaces" in entry else None,
            provider_main=entry.get("provider_main"),
            data=tuple(entry.get("data", [])),
            collector=collector,
            stable_version=entry.get("stable_version"),
            telemetry_factory=_flag(entry, "telemetry_factory", name, versions_file),
            local_main=entry.get("local_main"),
        )
    return tools


# --- building ------------------------------------------------------------------------------------------


def go_env() -> dict[str, str]:
    """The go command's environment: the machine's own toolchain, module mode, no VCS stamping."""
    env = dict(os.environ)
    # CGO_ENABLED is left to Go: with a C compiler kine uses its cgo SQLite driver, without one its pure-Go one.
    env.update({"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -buildvcs=false"})
    return env


def _go(args: Sequence[str], cwd: Path, tool: Tool) -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolBuildError("the go command is not on PATH: install Go 1.26 (see README, 'Requirements')")
    result = subprocess.run([go, *args], cwd=cwd, env=go_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ToolBuildError(f"{tool.name}: `go {' '.join(args)}` failed in {cwd}:\n{tail}")
    return result.stdout


def wrapper_replaces(go_mod: str, local_version: str | None, name: str = "tool") -> tuple[str, list[str]]:
    """(the go directive, the replace lines for a wrapper module) of an upstream ``go_mod`` text.

    A replace with a directory target (``../sdk``) becomes ``<module> => <module> <local_version>``;
    any other replace is kept. ToolBuildError when a directory replace meets no ``local_version``."""
    go_line = re.search(r"^go\s+(\S+)", go_mod, re.MULTILINE)
    replaces: list[str] = []
    for old, new in re.findall(r"^\s*(?:replace\s+)?(\S+(?:\s+v\S+)?)\s+=>\s+(.+?)\s*$", go_mod, re.MULTILINE):
        if new.split()[0].startswith((".", "/")):
            if local_version is None:
                raise ToolBuildError(f"{name}: upstream replaces {old} with a directory; set local_replaces")
            module = old.split()[0]
            replaces.append(f"{module} => {module} {local_version}")
        else:
            replaces.append(f"{old} => {new}")
    return (go_line[1] if go_line else "1.24"), replaces


def _upstream_go_mod(tool: Tool, wrapper: Path) -> tuple[str, list[str]]:
    info = json.loads(_go(["mod", "download", "-json", f"{tool.module}@{tool.version}"], wrapper, tool))
    return wrapper_replaces(Path(info["GoMod"]).read_text(encoding="utf-8"), tool.local_replaces, tool.name)


def _write_provider_main(tool: Tool, wrapper: Path) -> str:
    """A main serving the module's committed schema (its own main embeds a file generated at build time)."""
    assert tool.provider_main is not None
    info = json.loads(_go(["mod", "download", "-json", f"{tool.module}@{tool.version}"], wrapper, tool))
    source = Path(info["Dir"]) / tool.provider_main
    schema = json.loads((source / "schema.json").read_text(encoding="utf-8"))
    schema["version"] = tool.tag.removeprefix("v")
    (wrapper / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")), encoding="utf-8")
    mapping = json.loads((source / "terraform-mapping.json").read_text(encoding="utf-8"))
    (wrapper / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")), encoding="utf-8")
    (wrapper / "main.go").write_text(
        "// Written by tooling/go_tools.py: serves the provider with the schema committed in its module.\n"
        "package main\n\n"
        'import (\n\t_ "embed"\n\n'
        f'\t"{tool.module}/pkg/provider"\n\t"{tool.module}/pkg/version"\n)\n\n'
        "//go:embed schema-embed.json\nvar schema []byte\n\n"
        "//go:embed terraform-mapping-embed.json\nvar terraformMapping []byte\n\n"
        'func main() { provider.Serve("kubernetes", version.Version, schema, terraformMapping) }\n',
        encoding="utf-8",
    )
    return "."


def collector_main(tool: Tool) -> str:
    """The Go source of a collector main registering every component module of ``tool.collector``."""
    imports = ['"log"', "", '"go.opentelemetry.io/collector/component"', '"go.opentelemetry.io/collector/confmap"', '"go.opentelemetry.io/collector/otelcol"']
    imports += [f'"{provider}"' for provider in COLLECTOR_PROVIDERS] + ([f'"{COLLECTOR_TELEMETRY}"'] if tool.telemetry_factory else [])
    maps = []
    for kind, modules in tool.collector:
        package = COLLECTOR_KINDS[kind]
        imports.append(f'"go.opentelemetry.io/collector/{package}"')
        imports += [f'"{module}"' for module in modules]
        factories = ", ".join(f"{Path(module).name}.NewFactory()" for module in modules)
        field = kind.capitalize()
        maps.append(f"\tif f.{field}, err = otelcol.MakeFactoryMap[{package}.Factory]({factories}); err != nil {{\n\t\treturn f, err\n\t}}\n")
    providers = ", ".join(f"{Path(provider).name}.NewFactory()" for provider in COLLECTOR_PROVIDERS)
    unique = list(dict.fromkeys(imports))
    telemetry = "Telemetry: otelconftelemetry.NewFactory()" if tool.telemetry_factory else ""
    info = f'Command: "{tool.binaries[0]}", Description: "tools/versions.yaml {tool.name}", Version: "{tool.tag.removeprefix("v")}"'
    return (
        "// Written by tooling/go_tools.py from tools/versions.yaml: a collector with the components listed there.\n"
        "package main\n\nimport (\n" + "".join(f"\t{line}\n" if line else "\n" for line in unique) + ")\n\n"
        "func components() (otelcol.Factories, error) {\n\tvar err error\n"
        f"\tf := otelcol.Factories{{{telemetry}}}\n" + "".join(maps) + "\treturn f, nil\n}\n\n"
        "func main() {\n\tsettings := otelcol.CollectorSettings{\n"
        f"\t\tBuildInfo: component.BuildInfo{{{info}}},\n"
        "\t\tFactories: components,\n"
        "\t\tConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{\n"
        f"\t\t\tProviderFactories: []confmap.ProviderFactory{{{providers}}},\n\t\t}}}},\n\t}}\n"
        "\tif err := otelcol.NewCommand(settings).Execute(); err != nil {\n\t\tlog.Fatal(err)\n\t}\n}\n"
    )


def _build_collector(tool: Tool, wrapper: Path) -> list[str]:
    """Write the collector's main and require every module at its pinned release (``go get`` may not move one)."""
    assert tool.stable_version is not None
    (wrapper / "main.go").write_text(collector_main(tool), encoding="utf-8")
    pinned = {tool.module: tool.version} | {module: tool.version for _, modules in tool.collector for module in modules}
    pinned |= {provider: tool.stable_version for provider in COLLECTOR_PROVIDERS} | {"go.opentelemetry.io/collector/service": tool.version}
    _go(["get", *(f"{module}@{version}" for module, version in pinned.items())], wrapper, tool)
    go_mod = (wrapper / "go.mod").read_text(encoding="utf-8")
    for module, version in pinned.items():
        found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(\S+)", go_mod, re.MULTILINE)
        if found is None or found[1] != version:
            raise ToolBuildError(f"{tool.name}: go get moved {module} to {found[1] if found else 'nothing'}, not {version}")
    return ["."]


def build(tool: Tool, *, bin_dir: Path = BIN_DIR, log: Any = sys.stderr) -> bool:
    """Build ``tool`` unless its stamp and binaries exist; True when something was built."""
    stamp = STAMP_DIR / tool.key
    if stamp.exists() and all(path.exists() for path in tool.paths(bin_dir)):
        return False
    wrapper = SRC_DIR / f"{tool.name}@{tool.version}"
    shutil.rmtree(wrapper, ignore_errors=True)
    wrapper.mkdir(parents=True)
    (wrapper / "go.mod").write_text(f"module local.build/{tool.name}\n\ngo 1.24\n", encoding="utf-8")
    if tool.collector:
        targets = _build_collector(tool, wrapper)
        return _finish(tool, targets, wrapper, bin_dir, stamp, log)
    go_version, replaces = _upstream_go_mod(tool, wrapper)
    lines = [f"module local.build/{tool.name}", "", f"go {go_version}", "", f"require {tool.module} {tool.version}"]
    lines += [f"replace {line}" for line in replaces]
    (wrapper / "go.mod").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if tool.provider_main:
        targets = [_write_provider_main(tool, wrapper)]
        _go(["mod", "tidy"], wrapper, tool)
    elif tool.local_main:
        for source in sorted((REPO_ROOT / tool.local_main).glob("*.go")):
            shutil.copyfile(source, wrapper / source.name)
        targets = ["."]
        _go(["mod", "tidy"], wrapper, tool)
    else:
        targets = [tool.module if package == "." else f"{tool.module}/{package}" for package in tool.packages]
        _go(["get", *(f"{target}@{tool.version}" for target in targets)], wrapper, tool)
        # `go get` may raise the module's requirement past the pinned version through another module's needs.
        required = re.search(rf"^\s*(?:require\s+)?{re.escape(tool.module)}\s+(\S+)", (wrapper / "go.mod").read_text(), re.MULTILINE)
        if required is None or required[1] != tool.version:
            raise ToolBuildError(f"{tool.name}: go get moved {tool.module} to {required[1] if required else 'nothing'}, not {tool.version}")
    return _finish(tool, targets, wrapper, bin_dir, stamp, log)


def _finish(tool: Tool, targets: list[str], wrapper: Path, bin_dir: Path, stamp: Path, log: Any) -> bool:
    """Build ``targets`` in ``wrapper`` into ``bin_dir``, copy the tool's data, write its stamp."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for target, binary in zip(targets, tool.binaries, strict=True):
        print(f"==> tools: {tool.name} {tool.tag}: go build {target} -> {binary}", file=log, flush=True)
        _go(["build", "-trimpath", "-ldflags", f"-s -w {tool.ldflags}".strip(), "-o", str(bin_dir / binary), target], wrapper, tool)
    if tool.data:
        source = Path(json.loads(_go(["mod", "download", "-json", f"{tool.module}@{tool.version}"], wrapper, tool))["Dir"])
        share = SHARE_DIR / tool.name
        share.mkdir(parents=True, exist_ok=True)
        for path in tool.data:
            shutil.copyfile(source / path, share / Path(path).name)
    STAMP_DIR.mkdir(parents=True, exist_ok=True)
    for old in STAMP_DIR.glob(f"{tool.name}@*"):
        old.unlink()
    stamp.write_text(json.dumps({"module": tool.module, "version": tool.version, "binaries": list(tool.binaries)}) + "\n")
    return True


def require(*binaries: str, bin_dir: Path = BIN_DIR) -> dict[str, Path]:
    """The built paths of ``binaries``; :class:`ToolBuildError` naming ``make tools`` when one is missing."""
    found = {name: bin_dir / name for name in binaries}
    missing = [name for name, path in found.items() if not path.exists()]
    if missing:
        raise ToolBuildError(f"missing build of {', '.join(missing)} in {bin_dir}: run `{MAKE_COMMAND}`")
    return found
