"""The Prometheus configuration the Prometheus Operator generates for a render, and what its scrapes do to labels.

``generate(manifests)`` runs ``operator-config`` (tools/operator-config, built by ``make tools`` against the
deployed operator version): the operator's own generator over the render's Prometheus and monitors. The
scrape tests read it (which job, honour settings, limits, drops each scrape gets) and run it on the real
Prometheus with ``localised``: one scrape config with its Kubernetes discovery replaced by a static
target on loopback that carries the discovery labels a pod or endpoint would have, so the operator's
relabelling runs as in the cluster.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tooling.go_tools import ToolBuildError, require

BINARY = "operator-config"
# Placeholders the operator leaves for its config reloader (per pod): the shard and the pod's name.
RELOADER_PLACEHOLDERS = {"$(SHARD)": "0", "$(POD_NAME)": "prometheus-local-0"}


class OperatorConfigError(RuntimeError):
    """operator-config failed or its output lacks what was asked for; the message says which."""


def generate(manifests: Path) -> dict[str, Any]:
    """The operator-generated Prometheus configuration of the render whose manifests/ is ``manifests``."""
    binary = require(BINARY)[BINARY]
    done = subprocess.run([str(binary), str(manifests)], capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise OperatorConfigError(f"{binary} {manifests}: exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def of_render(files: Mapping[str, str], workdir: Path) -> dict[str, Any]:
    """The operator-generated configuration of a render held in memory (``Render.files``), written to ``workdir``."""
    manifests = workdir / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        if path.startswith("manifests/"):
            (workdir / path).write_text(text, encoding="utf-8")
    return generate(manifests)


def target_labels(scrape: Mapping[str, Any]) -> frozenset[str]:
    """The labels the scrape's relabelling writes on its targets (``namespace``, ``pod``, ``job``, ...), and
    ``instance``, which Prometheus sets from the address: the labels a scraped series' own labels meet."""
    written = {str(rule["target_label"]) for rule in scrape.get("relabel_configs") or [] if rule.get("target_label")}
    static = {label for group in scrape.get("static_configs") or [] for label in group.get("labels") or {}}
    return frozenset(label for label in written | static | {"job", "instance"} if not label.startswith("__"))


def scrape_config(config: Mapping[str, Any], job_name: str) -> dict[str, Any]:
    """The scrape config named ``job_name`` (the operator's ``podMonitor/<ns>/<name>/<endpoint index>``, ...)."""
    for scrape in config.get("scrape_configs") or []:
        if scrape["job_name"] == job_name:
            return dict(scrape)
    names = [s["job_name"] for s in config.get("scrape_configs") or []]
    raise OperatorConfigError(f"no scrape config {job_name!r}; the config has {names}")


def job_label(scrape: Mapping[str, Any]) -> str:
    """The ``job`` label the scrape's targets end with: the last relabelling that writes ``job``, when it writes a
    fixed value, else the job name (Prometheus's default). OperatorConfigError when the job depends on a target."""
    job = str(scrape["job_name"])
    for rule in scrape.get("relabel_configs") or []:
        if rule.get("target_label") != "job":
            continue
        if rule.get("source_labels"):
            # A jobLabel rule (from a discovered label); a later fixed rule may still override it.
            job = ""
            continue
        job = str(rule.get("replacement", "$1"))
    if not job or "$" in job:
        raise OperatorConfigError(f"{scrape['job_name']}: the job label depends on the target")
    return job


def localised(scrape: Mapping[str, Any], address: str, discovered: Mapping[str, str]) -> dict[str, Any]:
    """``scrape`` pointed at ``address`` (plain HTTP on loopback), its discovery replaced by one static target
    labelled ``discovered`` (the ``__meta_kubernetes_*`` labels Kubernetes discovery gives the pod or endpoint).

    Everything else the operator generated stays: relabelling, honour settings, metric relabelling, limits.
    TLS and credentials go with the scheme (the local target speaks plain HTTP).
    """
    out = copy.deepcopy(dict(scrape))
    for key in ("kubernetes_sd_configs", "tls_config", "bearer_token_file", "authorization", "scheme"):
        out.pop(key, None)
    out["static_configs"] = [{"targets": [address], "labels": dict(discovered)}]
    text = yaml.safe_dump(out)
    for placeholder, value in RELOADER_PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    localised_config: dict[str, Any] = yaml.safe_load(text)
    return localised_config


def global_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The generated global section with the reloader's placeholders filled in."""
    text = yaml.safe_dump(dict(config.get("global") or {}))
    for placeholder, value in RELOADER_PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    found: dict[str, Any] = yaml.safe_load(text)
    return found


__all__ = ["OperatorConfigError", "ToolBuildError", "generate", "global_config", "job_label", "localised", "of_render", "scrape_config", "target_labels"]
