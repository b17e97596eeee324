"""What dashboards and datasources need to reach Grafana: stable UIDs, the folders, the provider.

The datasource UIDs are written once (components/wiring/endpoints.py) and used by datasources,
dashboard targets and links between datasources, so a link can never point at a UID that does not exist.

A stack's own Grafana holds one stack's objects and keeps the plain UIDs. An
external Grafana (``grafana.external``) may be shared by several stacks (dev and
staging on one Grafana Cloud stack): there every UID, datasource name and folder
title carries the stack's name (``scoped``), so one stack's `up` never collides
with or overwrites another's objects.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import pulumi

from components.wiring.endpoints import DATASOURCE_UIDS

# Folder key -> (folder UID, title): one folder per monitored system and one for the stack itself.
FOLDERS: dict[str, tuple[str, str]] = {
    "qmtl": ("qmtl", "QMTL"),
    "dvt": ("dvt", "DVT"),
    "copilot": ("copilot", "Copilot"),
    "platform": ("platform", "Platform"),
}


@dataclass(frozen=True)
class GrafanaAccess:
    """Handed from the Grafana component to everything that creates Grafana objects."""

    provider: pulumi.ProviderResource
    folders: Mapping[str, pulumi.Resource]  # folder key (see FOLDERS) -> grafana.oss.Folder


# Grafana's UID rule (pkg/util/shortid_generator.go IsValidShortUID and the 40-character limit).
MAX_UID_LENGTH = 40
_UID_RE = re.compile(r"^[a-zA-Z0-9_-]+\Z", re.ASCII)
_EXPLORE_PANES = "/explore?"
_TEMPLATE_TOKEN = re.compile(r"%24%7B[A-Za-z0-9_.]+(?:%3A[A-Za-z0-9_.]+)?%7D")


@dataclass(frozen=True)
class GrafanaScope:
    """Names of one stack's objects in its Grafana; ``stack`` None keeps the plain names (own Grafana)."""

    stack: str | None = None

    def uid(self, uid: str) -> str:
        """``uid`` for this stack: ``prometheus-prod``, or a digest of the stack name when that would
        break Grafana's UID rule (letters, digits, '-', '_'; at most 40 characters)."""
        if self.stack is None:
            return uid
        candidate = f"{uid}-{self.stack}"
        if len(candidate) <= MAX_UID_LENGTH and _UID_RE.match(candidate):
            return candidate
        digest = hashlib.sha256(self.stack.encode()).hexdigest()[:8]
        return f"{uid[: MAX_UID_LENGTH - len(digest) - 1]}-{digest}"

    def title(self, title: str) -> str:
        """A datasource name or folder title for this stack: names are unique per Grafana organisation."""
        return title if self.stack is None else f"{title} ({self.stack})"

    def dashboard(self, model: dict[str, Any]) -> dict[str, Any]:
        """A dashboard model with its own UID and every datasource reference (targets, panels,
        variables, Explore links) pointing at this stack's datasources."""
        if self.stack is None:
            return model
        scoped: dict[str, Any] = self._refs(model)
        scoped["uid"] = self.uid(str(model["uid"]))
        return scoped

    def _refs(self, value: Any) -> Any:
        if isinstance(value, dict):
            out = {key: self._refs(item) for key, item in value.items()}
            if "uid" in out and value.get("uid") in DATASOURCE_UIDS and "type" in value:
                out["uid"] = self.uid(value["uid"])
            for key in ("datasourceUid", "datasource"):
                if isinstance(value.get(key), str) and value[key] in DATASOURCE_UIDS:
                    out[key] = self.uid(value[key])
            return out
        if isinstance(value, list):
            return [self._refs(item) for item in value]
        if isinstance(value, str) and value.startswith(_EXPLORE_PANES) and "panes=" in value:
            return self._explore(value)
        return value

    def _explore(self, url: str) -> str:
        # Explore's pane state is URL-encoded JSON with ${...} template tokens left readable.
        head, _, encoded = url.partition("panes=")
        panes = self._refs(json.loads(unquote(encoded)))
        text = quote(json.dumps(panes, separators=(",", ":"), sort_keys=True), safe="")
        return head + "panes=" + _TEMPLATE_TOKEN.sub(lambda match: unquote(match.group()), text)


def grafana_scope(stack: str, external: bool) -> GrafanaScope:
    """The scope of a stack's Grafana objects: per stack in an external (possibly shared) Grafana."""
    return GrafanaScope(stack if external else None)
