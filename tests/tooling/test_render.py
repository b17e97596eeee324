"""The offline render: layout, determinism, overrides, errors and secrets, through the real CLI path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components import paths
from components.kit import build_cache
from components.metrics.operator_crds import crd_directory, load_crds
from tooling import manifest_yaml
from tooling.mock_runtime import CRD, run_program_with_outputs
from tooling.render import SUBDIRS, LeakError, check_no_leak, redact, render_files, stand_in_missing_secrets
from tooling.stack_config import SECRET_PLACEHOLDER, StackConfig, read_stack_config

ROOT = paths.REPO_ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scripts.render", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def prod_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prod stack written by the CLI, as a user runs it."""
    out = tmp_path_factory.mktemp("cli") / "render"
    result = _cli("--stack", "prod", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_render_writes_the_layout(prod_cli: Path) -> None:
    out = prod_cli
    for sub in SUBDIRS:
        assert (out / sub).is_dir(), sub
    assert "route" in yaml.safe_load((out / "alertmanager.yaml").read_text())
    resources = json.loads((out / "resources.json").read_text())
    assert {"urn", "type", "name", "parent", "protect", "retainOnDelete"} <= set(resources[0])
    manifests = sorted((out / "manifests").glob("*.yaml"))
    kubernetes_resources = [r for r in resources if r["custom"] and r["type"].startswith("kubernetes:")]
    assert len(manifests) == len(kubernetes_resources)
    for path in manifests:
        # libyaml's parser (PyYAML's C loader), as the render's own readers use: the CRDs are megabytes.
        document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        assert {"apiVersion", "kind", "metadata"} <= set(document), path.name


def test_render_is_byte_identical_run_to_run(prod_cli: Path, render_stack) -> None:
    """Two runs in two interpreters (each with its own hash seed): the CLI's files and this process's render, byte for byte."""
    first = _tree(prod_cli)
    second = {path: text.encode() for path, text in render_stack("prod").files.items()}
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_render_replaces_a_previous_render_but_not_other_directories(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    result = _cli("--stack", "dev", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_set_overrides_config_for_one_run(tmp_path: Path) -> None:
    result = _cli("--stack", "dev", "--out", str(tmp_path / "r"), "--set", "pushgateway.storage.size=3Gi")
    assert result.returncode == 0, result.stderr
    claim = yaml.safe_load((tmp_path / "r/manifests/persistentvolumeclaim_observability_pushgateway-data.yaml").read_text())
    assert claim["spec"]["resources"]["requests"]["storage"] == "3Gi"


def test_a_bad_value_fails_the_render_and_names_the_key(tmp_path: Path) -> None:
    result = _cli("--stack", "dev", "--out", str(tmp_path / "r"), "--set", "prometheus.retention=7 days")
    assert result.returncode != 0
    assert "observability:prometheus.retention" in result.stderr
    assert "'7 days'" in result.stderr
    assert not (tmp_path / "r").exists()


def test_protection_follows_the_environment(render_stack) -> None:
    for stack, protected in (("dev", False), ("prod", True)):
        claim = next(r for r in render_stack(stack).records if r.type == "kubernetes:core/v1:PersistentVolumeClaim")
        assert (claim.protect, claim.retain_on_delete) == (protected, protected)


def test_a_leaked_secret_stops_the_render() -> None:
    config = StackConfig("dev", {"observability:grafanaAdminPassword": "canary-9f2c"}, {"observability:grafanaAdminPassword"})
    check_no_leak({"manifests/a.yaml": f"password: {SECRET_PLACEHOLDER}\n"}, config)
    with pytest.raises(LeakError, match="grafanaAdminPassword"):
        check_no_leak({"manifests/a.yaml": "password: canary-9f2c\n"}, config)
    with pytest.raises(LeakError):
        check_no_leak({"manifests/a.yaml": "password: Y2FuYXJ5LTlmMmM=\n"}, config)


def test_a_canary_secret_set_in_config_appears_nowhere(render_stack) -> None:
    canary = "canary-0b7e41d2"
    result = render_stack("prod", secrets={"grafanaAdminPassword": canary, "pagerdutyRoutingKey": canary + "-pd"})
    assert all(canary not in text for text in result.files.values())


def test_crds_written_offline_are_what_the_full_sdk_path_registers(render_stack) -> None:
    """The offline render keeps the CRD schemas out of the SDK's wire path and memoizes their YAML; the full path
    serializes every schema, sends it through the mock monitor and back. Both must register and write the same."""
    offline = render_stack("prod")  # tooling.render.render: the offline path
    config = read_stack_config("prod")
    stand_in_missing_secrets(config)
    full = run_program_with_outputs(config.stack, config.engine_form(), config.secret_keys, hold_back_crd_schemas=False)
    full_crds = {r.urn: r for r in full.records if r.type == CRD}
    assert len(full_crds) == len(load_crds(crd_directory(offline.settings.operator.image)))
    for record in offline.records:
        assert record.inputs == (full_crds[record.urn].inputs if record.type == CRD else record.inputs)
    assert [r.urn for r in offline.records] == [r.urn for r in full.records]
    offline_files = offline.files
    assert offline_files == render_files(full.records, full.outputs)
    for record in full_crds.values():
        # Emitted afresh, not through the memo: the written text is the full path's object, dumped.
        (path,) = [p for p in offline_files if p.startswith("manifests/customresourcedefinition_") and p.endswith(f"_{record.name}.yaml")]
        assert offline_files[path] == manifest_yaml.emit(redact(record.inputs))


def test_the_yaml_memo_tells_apart_values_that_print_differently() -> None:
    documents = [{"a": 1}, {"a": 1.0}, {"a": "1"}, {"a": True}, {"a": None}, {"a": "x\ny"}, {"a": [1]}, {1: "a"}, {"1": "a"}]
    assert [manifest_yaml.dump(d) for d in documents] == [manifest_yaml.emit(d) for d in documents]
    large = {"spec": {f"field{i}": "x" * 10 for i in range(manifest_yaml.DISK_THRESHOLD // 10)}}
    assert manifest_yaml.dump(large) == manifest_yaml.emit(large)


def test_a_damaged_crd_cache_entry_is_parsed_again(render_stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    vendored = crd_directory(render_stack("dev").settings.operator.image)
    # Two of the vendored files (the smallest: the path under test is the same for all ten, and parsing all of them
    # twice took seconds), expected as the vendored release's cached documents of those two kinds.
    names = ("monitoring.coreos.com_prometheusrules.yaml", "monitoring.coreos.com_probes.yaml")
    directory = tmp_path / "crds"
    directory.mkdir()
    for name in names:
        (directory / name).write_bytes((vendored / name).read_bytes())
    crd_names = {name.split("_", 1)[1].removesuffix(".yaml") + ".monitoring.coreos.com" for name in names}
    expected = tuple(d for d in load_crds(vendored) if d["metadata"]["name"] in crd_names)
    assert len(expected) == len(names)
    cache = tmp_path / "cache"
    monkeypatch.setattr(build_cache, "CACHE_DIR", cache)
    load_crds.cache_clear()
    try:
        assert load_crds(directory) == expected  # parsed, then stored
        (entry,) = cache.glob("crds-*.marshal")
        entry.write_bytes(b"\x00not marshal")
        load_crds.cache_clear()
        assert load_crds(directory) == expected
        assert entry.read_bytes() != b"\x00not marshal"
    finally:
        load_crds.cache_clear()
