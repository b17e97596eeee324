"""Typed, validated settings of one stack: the model (model.py, one module per signal) and its defaults.yaml.

The loader (loader.py), its errors (errors.py) and the cross-field checks are imported from their own modules,
so reading the model never runs them.
"""

from components.settings.metrics import ServiceTarget
from components.settings.model import Settings
from components.settings.platform import KubernetesSettings

__all__ = ["KubernetesSettings", "ServiceTarget", "Settings"]
