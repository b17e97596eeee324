"""The offline render's library: run the program under Pulumi mocks and lay its objects out as files.

The command is scripts/render.py; the tests, the API and checkov gates, promotion and the benchmark render through here.

Layout of a render's directory: manifests/ (one YAML per Kubernetes object), rules/ (the spec
of each PrometheusRule, promtool-ready), dashboards/ (one JSON model per
Grafana dashboard), grafana/ (folders, datasources, each dashboard's folder), outputs.json (the stack outputs),
resources.json (every registered resource with its parent and protection), alertmanager.yaml
(the generated Alertmanager config; credentials are *_file paths). Secrets appear
only as a fixed placeholder; output is byte-identical run to run.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.metrics.alertmanager import CONFIG_KEY as ALERTMANAGER_CONFIG_KEY
from components.metrics.alertmanager import CONFIG_LABEL as ALERTMANAGER_CONFIG_LABEL
from components.settings import Settings
from components.settings.errors import SettingsError
from components.settings.loader import load_settings
from components.settings.secrets import MissingSecret
from tooling import manifest_yaml
from tooling.mock_runtime import Registered, is_secret, run_program_with_outputs
from tooling.render_grafana import dashboard_file, provisioned_files
from tooling.stack_config import SECRET_PLACEHOLDER, StackConfig, add_secret

SUBDIRS = ("manifests", "rules", "dashboards", "grafana")
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SECRET = "kubernetes:core/v1:Secret"
DASHBOARD = "grafana:oss/dashboard:Dashboard"
GRAFANA_OBJECTS = {"grafana:oss/folder:Folder": "folder", "grafana:oss/dataSource:DataSource": "datasource"}


# The C implementation when present: the vendored CRDs are megabytes of YAML.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LeakError(RuntimeError):
    """A secret's plaintext would have been written."""


@dataclass
class Render:
    stack: str
    settings: Settings
    records: list[Registered]
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content
    outputs: dict[str, Any] = field(default_factory=dict)  # stack outputs, secrets as the placeholder
    # Secrets the stack needs that its file does not hold (they live only in the deployer's config).
    placeholder_secrets: tuple[str, ...] = ()
    _manifests: list[dict[str, Any]] | None = field(default=None, repr=False)

    def manifests(self) -> list[dict[str, Any]]:
        """Each manifest file parsed, in path order. Shared with every render that wrote the same text (the CRDs,
        megabytes, are the same in nearly every render, and so are most objects across overrides): deep-copy one
        before changing it."""
        if self._manifests is None:
            self._manifests = [_parsed(text) for path, text in sorted(self.files.items()) if path.startswith("manifests/")]
        return list(self._manifests)


_PARSED: dict[str, Any] = {}


def _parsed(text: str) -> Any:
    """``text`` parsed as YAML, once per distinct text in this process."""
    document = _PARSED.get(text)
    if document is None:
        document = _PARSED[text] = yaml.load(text, Loader=_LOADER)
    return document


def redact(value: Any, keep_shape: bool = False) -> Any:
    """Inputs with every Pulumi secret replaced by the placeholder, and whole numbers as integers.

    With ``keep_shape`` the placeholders go *inside* a secret's structure (a secret
    map stays a map of placeholders), as the API server will receive it.
    """
    if isinstance(value, dict):
        if not is_secret(value):  # a secret is a dict, so other values skip the check
            return {k: redact(v, keep_shape) for k, v in value.items()}
        if keep_shape and isinstance(value["value"], (dict, list)):
            return redact(value["value"], keep_shape)
        return SECRET_PLACEHOLDER
    if isinstance(value, list):
        return [redact(v, keep_shape) for v in value]
    if isinstance(value, float) and value.is_integer():
        # The wire format carries every number as a double; ports and counts are integers.
        return int(value)
    return value


def _json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


def is_kubernetes_object(record: Registered) -> bool:
    """A Kubernetes object the render writes (not the Kubernetes provider itself)."""
    return record.custom and record.type.startswith("kubernetes:") and not record.type.startswith("pulumi:providers:")


def _manifest_path(obj: dict[str, Any], record: Registered) -> str:
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError(f"{record.urn}: set metadata.name explicitly so the object's name is stable")
    scope = metadata.get("namespace", "cluster")
    return f"manifests/{obj['kind'].lower()}_{scope}_{name}.yaml"


def alertmanager_config_text(record: Registered) -> str:
    """The Alertmanager config, for amtool. The SDK marks all Secret data secret, but this Secret holds
    only *_file paths, never credentials (check_no_leak still guards the written file)."""
    string_data = record.inputs["stringData"]
    if is_secret(string_data):
        string_data = string_data["value"]
    text = string_data[ALERTMANAGER_CONFIG_KEY]
    return str(text["value"] if is_secret(text) else text)


def render_files(records: Iterable[Registered], outputs: dict[str, Any] | None = None) -> dict[str, str]:
    records = list(records)
    files: dict[str, str] = {"outputs.json": _json(redact(outputs or {}))}
    resources = []
    for record in records:
        inputs = redact(record.inputs)
        resources.append(
            {
                "urn": record.urn,
                "type": record.type,
                "name": record.name,
                "parent": record.parent,
                "custom": record.custom,
                "protect": record.protect,
                "retainOnDelete": record.retain_on_delete,
                "ignoreChanges": list(record.ignore_changes),
                "replaceOnChanges": list(record.replace_on_changes),
            }
        )
        if is_kubernetes_object(record):
            path = _manifest_path(inputs, record)
            if path in files:
                raise ValueError(f"two objects render to {path}")
            files[path] = manifest_yaml.dump(inputs)
            if record.type == PROMETHEUS_RULE:
                files[f"rules/{inputs['metadata']['name']}.yaml"] = manifest_yaml.dump(inputs["spec"])
            if record.type == SECRET and ALERTMANAGER_CONFIG_LABEL in (inputs["metadata"].get("labels") or {}):
                files["alertmanager.yaml"] = alertmanager_config_text(record)
        elif record.type == DASHBOARD:
            model = json.loads(inputs["configJson"])
            uid = model.get("uid") or record.name
            files[f"dashboards/{uid}.json"] = dashboard_file(inputs["configJson"])
            # Where it goes (folder, overwrite), beside the folders and datasources.
            placement = {key: value for key, value in inputs.items() if key != "configJson"}
            files[f"grafana/dashboard-{uid}.json"] = _json(placement | {"uid": uid, "title": model.get("title")})
        elif record.type in GRAFANA_OBJECTS:
            if isinstance(inputs.get("jsonDataEncoded"), str):
                inputs["jsonDataEncoded"] = json.loads(inputs["jsonDataEncoded"])
            files[f"grafana/{GRAFANA_OBJECTS[record.type]}-{inputs.get('uid') or record.name}.json"] = _json(inputs)
    # A Grafana that provisions its objects from ConfigMaps: the same grafana/ and dashboards/ files.
    files.update(provisioned_files(records))
    files["resources.json"] = _json(resources)
    return files


def check_no_leak(files: dict[str, str], config: StackConfig) -> None:
    for key in sorted(config.secret_keys):
        plain = config.values.get(key)
        if not isinstance(plain, str) or plain == SECRET_PLACEHOLDER or len(plain) < 4:
            continue
        needles = {plain, base64.b64encode(plain.encode()).decode()}
        for path, text in files.items():
            if any(needle in text for needle in needles):
                raise LeakError(f"the value of secret {key} would be written to {path}; it must reach resources only as a Pulumi secret")


def stand_in_missing_secrets(config: StackConfig) -> tuple[str, ...]:
    """Give each secret the settings require but the stack file lacks the placeholder value.

    Real secrets never reach the render anyway; `pulumi up` still refuses a stack without them.
    """
    try:
        load_settings(config.engine_form(), config.stack, config.secret_keys, require_secrets=True)
    except SettingsError as error:
        bad = [p for p in error.problems if not isinstance(p, MissingSecret)]
        if bad:  # a bad value: refused before the program runs, without the secrets render stands in for
            raise SettingsError(config.stack, bad) from None
        missing = tuple(sorted(p.key for p in error.problems if isinstance(p, MissingSecret)))
        for key in missing:
            add_secret(config, key, SECRET_PLACEHOLDER)
        return missing
    return ()


def render(config: StackConfig) -> Render:
    placeholders = stand_in_missing_secrets(config)
    program = run_program_with_outputs(config.stack, config.engine_form(), config.secret_keys)
    result = Render(
        config.stack, program.settings, program.records, render_files(program.records, program.outputs), redact(program.outputs), placeholders
    )
    check_no_leak(result.files, config)
    return result


def check_out(out: Path) -> None:
    """Refuse an output path that is a file, or a non-empty directory that is not a previous render."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory; accepted form: a new directory, an empty one or a previous render")
    if out.exists() and any(out.iterdir()) and not (out / "resources.json").is_file():
        raise FileExistsError(f"--out {out} is not empty and is not a previous render; accepted form: a new directory, an empty one or a previous render")


def write(result: Render, out: Path) -> None:
    check_out(out)
    if out.exists() and any(out.iterdir()) and not (out / "resources.json").exists():
        raise FileExistsError(f"{out} is not empty and is not a previous render; choose an empty or new directory")
    if out.exists():
        shutil.rmtree(out)
    for sub in SUBDIRS:
        (out / sub).mkdir(parents=True, exist_ok=True)
    for relative, text in sorted(result.files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
