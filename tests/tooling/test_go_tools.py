"""`make tools`: versions written once (tools/versions.yaml, the image tags, .pulumi-version), wrapper modules
that build what `go install` refuses, and built programs that answer with the versions the stack deploys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from components import paths
from tooling.go_tools import BIN_DIR, ToolBuildError, collector_main, load_tools, require, sdk_plugin_version, wrapper_replaces

IMAGE_TAG = "{image}:{tag}"


def _defaults_with(tmp_path: Path, **images: str) -> Path:
    defaults = yaml.safe_load(paths.SETTINGS_DEFAULTS.read_text(encoding="utf-8"))
    for section, image in images.items():
        defaults["common"][section]["image"] = image
    path = tmp_path / "defaults.yaml"
    path.write_text(yaml.safe_dump(defaults), encoding="utf-8")
    return path


def test_deployed_programs_take_their_version_from_the_image_tags() -> None:
    tools = load_tools()
    defaults = yaml.safe_load(paths.SETTINGS_DEFAULTS.read_text(encoding="utf-8"))["common"]
    assert defaults["prometheus"]["image"].endswith(":" + tools["prometheus"].tag)
    # Prometheus 3.X.Y is published as Go module v0.(300+X).Y.
    major, minor, patch = tools["prometheus"].tag.removeprefix("v").split(".")
    assert major == "3" and tools["prometheus"].version == f"v0.{300 + int(minor)}.{patch}"
    for name, section in (("alertmanager", "alertmanager"), ("pushgateway", "pushgateway"), ("node-exporter", "nodeExporter")):
        assert defaults[section]["image"].endswith(":" + tools[name].version), name
    assert tools["prometheus"].binaries == ("prometheus", "promtool")
    assert tools["alertmanager"].binaries == ("alertmanager", "amtool")


def test_a_new_image_tag_is_a_new_build(tmp_path: Path) -> None:
    before = load_tools()["prometheus"]
    after = load_tools(defaults_file=_defaults_with(tmp_path, prometheus="quay.io/prometheus/prometheus:v3.6.2"))["prometheus"]
    assert after.version == "v0.306.2" and after.tag == "v3.6.2" and "3.6.2" in after.ldflags
    assert after.key != before.key and after.key.startswith("prometheus@v0.306.2+")


def test_an_image_without_a_version_tag_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ToolBuildError, match=r"common\.alertmanager\.image = 'quay.io/prometheus/alertmanager:latest' has no x\.y\.z tag"):
        load_tools(defaults_file=_defaults_with(tmp_path, alertmanager="quay.io/prometheus/alertmanager:latest"))


def test_the_cli_is_built_at_the_version_the_workflows_install() -> None:
    pulumi = load_tools()["pulumi"]
    pinned = paths.PULUMI_VERSION_FILE.read_text(encoding="utf-8").strip()
    assert pulumi.version == f"v{pinned}" and pulumi.local_replaces == f"v{pinned}"
    assert f"version.Version=v{pinned}" in pulumi.ldflags
    # At or above the SDK the program runs with.
    sdk = next(line.split("==")[1] for line in paths.REQUIREMENTS.read_text().splitlines() if line.startswith("pulumi=="))
    assert tuple(map(int, pinned.split("."))) >= tuple(map(int, sdk.split(".")))


def test_the_provider_is_registered_under_the_sdk_s_plugin_version() -> None:
    pinned = next(line.split("==")[1] for line in paths.REQUIREMENTS.read_text().splitlines() if line.startswith("pulumi-kubernetes=="))
    assert sdk_plugin_version() == pinned
    provider = load_tools()["pulumi-resource-kubernetes"]
    assert provider.binaries == ("pulumi-resource-kubernetes",) and provider.tag == "v4.25.0"


GO_MOD = """module example.org/upstream

go 1.24.7

replace github.com/example/sdk/v4 => ../sdk

replace (
\texample.org/staging/api => ./staging/src/example.org/api
\tgithub.com/fsnotify/fsnotify v1.8.0 => github.com/fsnotify/fsnotify v1.7.0
)
"""


def test_directory_replaces_become_the_published_modules_and_others_are_kept() -> None:
    go, replaces = wrapper_replaces(GO_MOD, "v4.25.0")
    assert go == "1.24.7"
    assert replaces == [
        "github.com/example/sdk/v4 => github.com/example/sdk/v4 v4.25.0",
        "example.org/staging/api => example.org/staging/api v4.25.0",
        "github.com/fsnotify/fsnotify v1.8.0 => github.com/fsnotify/fsnotify v1.7.0",
    ]


def test_a_directory_replace_without_a_published_version_is_refused() -> None:
    with pytest.raises(ToolBuildError, match=r"kubernetes: upstream replaces github.com/example/sdk/v4 with a directory; set local_replaces"):
        wrapper_replaces(GO_MOD, None, "kubernetes")


def test_the_collector_registers_every_listed_component_and_refuses_an_unknown_kind(tmp_path: Path) -> None:
    tool = load_tools()["otelcol"]
    main = collector_main(tool)
    for kind, modules in tool.collector:
        for module in modules:
            assert f'"{module}"' in main and f"{Path(module).name}.NewFactory()" in main, (kind, module)
    spec = yaml.safe_load(paths.TOOLS_VERSIONS.read_text(encoding="utf-8"))
    spec["tools"]["otelcol"]["collector"]["samplers"] = ["example.com/x"]
    versions = tmp_path / "versions.yaml"
    versions.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(ToolBuildError, match=r"otelcol: collector kinds \['samplers'\]; accepted: receivers, processors"):
        load_tools(versions)


def test_the_telemetry_factory_is_registered_only_where_the_release_has_the_field(tmp_path: Path) -> None:
    """otelcol.Factories has a Telemetry field at v0.161.0, none at v0.128.0 (Alloy v1.10.1's release)."""
    tools = load_tools()
    assert tools["otelcol"].telemetry_factory and "Telemetry: otelconftelemetry.NewFactory()" in collector_main(tools["otelcol"])
    alloy = tools["otelcol-alloy"]
    assert alloy.version == "v0.128.0" and not alloy.telemetry_factory
    assert "Telemetry" not in collector_main(alloy) and "otelconftelemetry" not in collector_main(alloy)
    assert "servicegraphconnector.NewFactory()" in collector_main(alloy)
    spec = yaml.safe_load(paths.TOOLS_VERSIONS.read_text(encoding="utf-8"))
    spec["tools"]["otelcol-alloy"]["telemetry_factory"] = "no"
    versions = tmp_path / "versions.yaml"
    versions.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(ToolBuildError, match=r"otelcol-alloy: telemetry_factory = 'no'; accepted: true or false"):
        load_tools(versions)


def test_the_service_graph_collector_is_at_the_release_alloy_wraps() -> None:
    """contrib v0.128.0 with the v1 modules at v1.34.0: Grafana Alloy v1.10.1's go.mod (the deployed Alloy)."""
    defaults = yaml.safe_load(paths.SETTINGS_DEFAULTS.read_text(encoding="utf-8"))["common"]
    assert defaults["alloy"]["image"].endswith(":v1.10.1"), "Alloy moved: pin otelcol-alloy at the release its go.mod requires"
    alloy = load_tools()["otelcol-alloy"]
    assert (alloy.version, alloy.stable_version) == ("v0.128.0", "v1.34.0")


def test_a_missing_build_names_the_command_that_makes_it(tmp_path: Path) -> None:
    with pytest.raises(ToolBuildError, match=r"missing build of kwok, promtool in .*: run `make tools`"):
        require("kwok", "promtool", bin_dir=tmp_path)


@pytest.mark.parametrize(
    ("binary", "argv", "expected"),
    [
        ("prometheus", ["--version"], "prometheus, version {prometheus}"),
        ("promtool", ["--version"], "promtool, version {prometheus}"),
        ("alertmanager", ["--version"], "alertmanager, version {alertmanager}"),
        ("amtool", ["--version"], "amtool, version {alertmanager}"),
        ("pushgateway", ["--version"], "pushgateway, version {pushgateway}"),
        ("node_exporter", ["--version"], "node_exporter, version {node-exporter}"),
        ("pulumi", ["version"], "v{pulumi}"),
        ("kube-apiserver", ["--version"], "Kubernetes v{kubernetes}"),
        ("kubectl", ["version", "--client"], "Client Version: v{kubernetes}"),
        ("otelcol", ["--version"], "otelcol version {otelcol}"),
        ("otelcol-alloy", ["--version"], "otelcol-alloy version {otelcol-alloy}"),
    ],
)
def test_each_built_program_answers_with_its_pinned_version(binary: str, argv: list[str], expected: str) -> None:
    path = require(binary)[binary]
    versions = {name: tool.tag.removeprefix("v") for name, tool in load_tools().items()}
    result = subprocess.run([str(path), *argv], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert expected.format(**versions) in result.stdout + result.stderr
    assert path.parent == BIN_DIR
