"""The seed 002 monitoring bundle: Helm chart (rendered and linted by Helm's own Go SDK), Terraform module
(evaluated by OpenTofu's CLI, built by `make tools`), jsonnet mixin (evaluated by the jsonnet library), all equal to the render."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _jsonnet
import jsonschema
import pytest
import yaml
from helm_python.chart import Chart, lint
from helm_python.errors import HelmError

from components import paths
from scripts import package_monitoring_bundle as bundle
from tests.support.tools import tool
from tooling import render as render_module
from tooling.render import Render

NAME = bundle.NAME
STACK = "prod"
# libyaml's parser (the same safe constructor): the chart's objects and the rules are hundreds of kB of YAML.
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prod(render_stack: Callable[..., Render]) -> Render:
    return render_stack(STACK)


@pytest.fixture(scope="module")
def out(prod: Render, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bundle") / "dist"
    bundle.write(bundle.bundle_files(bundle.sources(STACK, prod.files)), directory)
    return directory


def rendered_groups(render: Render) -> list[dict[str, Any]]:
    return [g for path, text in sorted(render.files.items()) if path.startswith("rules/") for g in yaml.load(text, Loader=LOADER)["groups"]]


def rendered_dashboards(render: Render) -> dict[str, Any]:
    return {Path(p).stem: json.loads(t) for p, t in render.files.items() if p.startswith("dashboards/")}


# --- one command, byte-identical --------------------------------------------------------------------


def test_one_command_writes_the_bundle_byte_identically(prod: Render, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(render_module, "render", lambda config: prod)  # the session's cached render of the same stack
    first, second = tmp_path / "a", tmp_path / "b"
    assert bundle.main(["--out", str(first)]) == 0
    assert bundle.main(["--out", str(second)]) == 0
    assert bundle.main(["--out", str(first)]) == 0  # over a previous bundle
    assert tree(first) == tree(second)
    assert f"wrote {len(tree(first))} files to {first}" in capsys.readouterr().out
    layout = set(tree(first))
    for path in (f"helm/{NAME}/Chart.yaml", f"helm/{NAME}/values.yaml", f"helm/{NAME}/values.schema.json", f"helm/{NAME}/values-sample.yaml",
                 f"terraform/{NAME}/main.tf", f"terraform/{NAME}/terraform.tfvars.example", f"samples/{NAME}.helm-values.yaml",
                 f"samples/{NAME}.terraform.tfvars", "mixin/mixin.libsonnet"):
        assert path in layout


def test_default_out_is_dist_and_dist_is_ignored_by_git(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Path("dist") == bundle.DEFAULT_OUT
    assert "/dist/" in paths.GITIGNORE.read_text().splitlines()


def test_refuses_to_replace_a_directory_that_is_not_a_bundle(tmp_path: Path, prod: Render, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(render_module, "render", lambda config: prod)
    (tmp_path / "notes.txt").write_text("keep me")
    assert bundle.main(["--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path} is not empty and holds no previous bundle" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_unknown_stack_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert bundle.main(["--stack", "qa", "--out", str(tmp_path / "x")]) == 2
    assert "package_monitoring_bundle: " in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_samples_are_the_chart_and_module_examples(out: Path) -> None:
    assert (out / f"samples/{NAME}.helm-values.yaml").read_text() == (out / f"helm/{NAME}/values-sample.yaml").read_text()
    assert (out / f"samples/{NAME}.terraform.tfvars").read_text() == (out / f"terraform/{NAME}/terraform.tfvars.example").read_text()


# --- jsonnet mixin ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixin(out: Path) -> dict[str, Any]:
    """The mixin and its entry points, evaluated by the jsonnet library in one run (imports are evaluated once)."""
    snippet = ("local m = import 'mixin.libsonnet'; {alerts: m.prometheusAlerts, rules: m.prometheusRules, dashboards: m.grafanaDashboards, "
               "entry: {alerts: import 'alerts.jsonnet', rules: import 'rules.jsonnet', dashboards: import 'dashboards.jsonnet', "
               "main: std.objectFieldsAll(import 'main.jsonnet')}}")
    result: dict[str, Any] = json.loads(_jsonnet.evaluate_snippet("test", snippet, jpathdir=[str(out / "mixin")]))
    return result


def test_mixin_evaluated_with_jsonnet_equals_the_render(mixin: dict[str, Any], prod: Render) -> None:
    alerts = {g["name"]: g for g in mixin["alerts"]["groups"]}
    records = {g["name"]: g for g in mixin["rules"]["groups"]}
    groups = rendered_groups(prod)
    assert len(groups) >= 30 and records, "the render has recording rules (SLOs) and alerts"
    for group in groups:
        for kind, split in (("alert", alerts), ("record", records)):
            wanted = [r for r in group["rules"] if kind in r]
            if not wanted:
                assert group["name"] not in split
                continue
            got = split[group["name"]]
            assert got["rules"] == wanted
            assert {k: v for k, v in got.items() if k != "rules"} == {k: v for k, v in group.items() if k != "rules"}
    assert set(alerts) | set(records) == {g["name"] for g in groups}
    assert mixin["dashboards"] == {f"{uid}.json": model for uid, model in rendered_dashboards(prod).items()}


def test_mixin_entry_points(mixin: dict[str, Any]) -> None:
    entry = mixin["entry"]
    assert entry["alerts"] == mixin["alerts"] and entry["rules"] == mixin["rules"] and entry["dashboards"] == mixin["dashboards"]
    assert entry["main"] == ["grafanaDashboards", "prometheusAlerts", "prometheusRules"]


# --- Helm chart --------------------------------------------------------------------------------------


def chart_dir(out: Path) -> Path:
    return out / f"helm/{NAME}"


def helm_render(out: Path, values: dict[str, Any], namespace: str = "default") -> list[dict[str, Any]]:
    with Chart.load(chart_dir(out)) as chart:
        manifests = chart.render(values, name="obs", namespace=namespace)
    return [doc for path, text in sorted(manifests.items()) if path.endswith(".yaml") for doc in yaml.load_all(text, Loader=LOADER) if doc]


def sample(out: Path) -> dict[str, Any]:
    values: dict[str, Any] = yaml.load((chart_dir(out) / "values-sample.yaml").read_text(), Loader=LOADER)
    return values


def test_helm_lint_strict_passes(out: Path) -> None:
    report = lint(chart_dir(out), sample(out), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_helm_render_with_the_sample_equals_the_render(out: Path, prod: Render) -> None:
    docs = helm_render(out, sample(out))
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    (rule,) = [d for d in docs if d["kind"] == "PrometheusRule"]
    dashboards = rendered_dashboards(prod)
    assert len(maps) == len(dashboards)
    for cm in maps:
        assert cm["metadata"]["namespace"] == "monitoring"
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = cm["data"].items()
        assert json.loads(text) == dashboards[key.removesuffix(".json")]
        assert cm["metadata"]["name"] == f"obs-{key.removesuffix('.json')}"
    folders = {cm["metadata"]["name"]: cm["metadata"]["annotations"]["grafana_folder"] for cm in maps}
    assert folders["obs-qmtl-seamless-sla"] == "QMTL"
    assert rule["metadata"]["namespace"] == "monitoring"  # prometheusRule.namespace
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["labels"][bundle.SELECTOR_LABEL] == STACK  # values.yaml's label kept under the sample's
    assert rule["spec"]["groups"] == rendered_groups(prod)


def test_helm_extra_dashboards_append_and_dashboards_replace(out: Path) -> None:
    extra = {"name": "team-latency", "folder": "Team", "json": json.dumps({"title": "Team latency"})}
    appended = helm_render(out, {"grafanaDashboards": {"extraDashboards": [extra]}})
    names = [d["metadata"]["name"] for d in appended if d["kind"] == "ConfigMap"]
    assert "obs-team-latency" in names and "obs-qmtl-seamless-sla" in names
    assert len(names) == len(yaml.load((chart_dir(out) / "values.yaml").read_text(), Loader=LOADER)["grafanaDashboards"]["dashboards"]) + 1
    replaced = helm_render(out, {"grafanaDashboards": {"dashboards": [extra]}})
    assert [d["metadata"]["name"] for d in replaced if d["kind"] == "ConfigMap"] == ["obs-team-latency"]
    assert [d["metadata"]["namespace"] for d in replaced] == ["default", "default"]  # release namespace when unset


def test_helm_optional_objects_and_duplicate_dashboards(out: Path) -> None:
    docs = helm_render(out, {"prometheusRule": {"enabled": False}})
    assert {d["kind"] for d in docs} == {"ConfigMap"}
    docs = helm_render(out, {"grafanaDashboards": {"enabled": False}})
    assert [d["kind"] for d in docs] == ["PrometheusRule"]
    dup = {"name": "qmtl-seamless-sla", "json": "{}"}
    with pytest.raises(HelmError, match='dashboard "qmtl-seamless-sla" is listed twice'):
        helm_render(out, {"grafanaDashboards": {"extraDashboards": [dup]}})


def deep_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a -f file over values.yaml: maps merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def test_values_sample_validates_against_the_schema(out: Path) -> None:
    schema = json.loads((chart_dir(out) / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.load((chart_dir(out) / "values.yaml").read_text(), Loader=LOADER)
    jsonschema.validate(sample(out), schema, cls=jsonschema.Draft7Validator)
    jsonschema.validate(defaults, schema, cls=jsonschema.Draft7Validator)
    jsonschema.validate(deep_merge(defaults, sample(out)), schema, cls=jsonschema.Draft7Validator)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"grafanaDashboards": {"labels": {"grafana_dashboard": 1}}}, "/grafanaDashboards/labels/grafana_dashboard"),
        ({"grafanaDashboards": {"extraDashboards": [{"name": "x"}]}}, "/grafanaDashboards/extraDashboards/0"),
        ({"grafanaDashboards": {"extraDashboards": [{"name": "Team_X", "json": "{}"}]}}, "/grafanaDashboards/extraDashboards/0/name"),
        ({"prometheusRule": {"namespace": "Monitoring"}}, "/prometheusRule/namespace"),
        ({"prometheusRules": {"namespace": "monitoring"}}, "prometheusRules"),
        ({"prometheusRule": {"groups": [{"name": "g", "rules": [{"expr": "up"}]}]}}, "/prometheusRule/groups/0/rules/0"),
    ],
)
def test_bad_values_are_refused_by_the_schema_and_by_helm(out: Path, values: dict[str, Any], where: str) -> None:
    schema = json.loads((chart_dir(out) / "values.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, schema, cls=jsonschema.Draft7Validator)
    with Chart.load(chart_dir(out)) as chart, pytest.raises(HelmError) as error:
        chart.render(values, name="obs", namespace="default")
    assert where in str(error.value)


# --- Terraform module ----------------------------------------------------------------------------------

def terraform(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``tofu -chdir=DIRECTORY ARGS -no-color``: OpenTofu, the open-source fork of Terraform, built by `make tools`
    (tools/versions.yaml); its absence fails the test, naming `make tools`. An empty CLI config (no credentials,
    no plugin cache or mirrors from the machine)."""
    tofu = tool("tofu")
    config = directory.parent / "tofurc"
    config.write_text("")
    env = os.environ | {"TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": str(config)}
    return subprocess.run([tofu, f"-chdir={directory}", *args, "-no-color"], capture_output=True, text=True, timeout=120, env=env)


def test_terraform_files_are_canonically_formatted(out: Path) -> None:
    result = terraform(out / "terraform", "fmt", "-check", "-recursive", "-diff")
    assert result.returncode == 0, result.stdout + result.stderr


PROBE_OUTPUTS = """output "dashboards" { value = local.dashboards }
output "rule_groups" { value = local.rule_groups }
output "rule_labels" { value = local.rule_labels }
"""

# Two more instances of the module's data logic, for the dashboards semantics, evaluated in the same run.
PROBE_VARIANTS = """module "appended" {
  source           = "./variant"
  extra_dashboards = { "team-latency" = { folder = "Team", json = "{}" } }
}

module "replaced" {
  source           = "./variant"
  dashboards       = { "only" = { json = "{}" } }
  extra_dashboards = { "team-latency" = { folder = "Team", json = "{}" } }
}

output "appended" { value = module.appended.dashboards }
output "replaced" { value = module.replaced.dashboards }
"""


@pytest.fixture(scope="module")
def module_values(out: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundle module's variables and locals evaluated by OpenTofu, with terraform.tfvars.example.

    A root module holding them with outputs and no resources: OpenTofu evaluates it without the kubernetes
    provider, which cannot be downloaded here (main.tf's resources are not evaluated).
    """
    root = tmp_path_factory.mktemp("tf") / "probe"
    module = out / f"terraform/{NAME}"
    data_only = shutil.ignore_patterns("main.tf", "outputs.tf", "versions.tf", "*.example")
    shutil.copytree(module, root, ignore=data_only)
    shutil.copytree(module, root / "variant", ignore=data_only)
    (root / "probe.tf").write_text(PROBE_OUTPUTS + PROBE_VARIANTS)
    (root / "variant" / "probe.tf").write_text(PROBE_OUTPUTS)
    init = terraform(root, "init", "-input=false", "-backend=false")
    assert init.returncode == 0, init.stdout + init.stderr
    applied = terraform(root, "apply", "-auto-approve", "-input=false", "-refresh=false", f"-var-file={module / 'terraform.tfvars.example'}")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    output = terraform(root, "output", "-json")
    return {k: v["value"] for k, v in json.loads(output.stdout).items()}


def test_terraform_module_evaluates_to_the_render(module_values: dict[str, Any], prod: Render) -> None:
    dashboards = rendered_dashboards(prod)
    assert {name: json.loads(d["json"]) for name, d in module_values["dashboards"].items()} == dashboards
    assert module_values["dashboards"]["qmtl-seamless-sla"]["folder"] == "QMTL"
    assert module_values["rule_groups"] == rendered_groups(prod)
    assert module_values["rule_labels"] == {bundle.SELECTOR_LABEL: STACK, "release": "kube-prometheus-stack"}


def test_terraform_extra_dashboards_append_and_dashboards_replace(module_values: dict[str, Any], prod: Render) -> None:
    appended = module_values["appended"]
    assert set(appended) == set(rendered_dashboards(prod)) | {"team-latency"}
    replaced = module_values["replaced"]
    assert sorted(replaced) == ["only", "team-latency"]
    assert replaced["only"]["folder"] is None and replaced["team-latency"]["folder"] == "Team"


def test_terraform_module_creates_the_same_objects_as_the_chart(out: Path) -> None:
    """main.tf cannot be planned here (no provider): its resources are checked as text against the chart's objects."""
    main = (out / f"terraform/{NAME}/main.tf").read_text()
    assert 'resource "kubernetes_config_map_v1" "dashboard"' in main and 'grafana_dashboard = "1"' in main
    assert 'resource "kubernetes_manifest" "prometheus_rule"' in main and 'kind       = "PrometheusRule"' in main
    assert "count = var.prometheus_rule_enabled ? 1 : 0" in main
