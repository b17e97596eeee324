"""The PersistentVolumeClaim spec every stateful component asks for."""

from __future__ import annotations

from typing import Any

from components.settings.types import Storage


def claim_spec(storage: Storage) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage.size}}}
    if storage.storage_class:
        spec["storageClassName"] = storage.storage_class
    return spec
