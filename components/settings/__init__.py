"""Typed, validated settings of one stack: the model (model.py, one module per signal) and its defaults.yaml.

The loader (loader.py), its errors (errors.py) and the cross-field checks are imported from their own modules,
so reading the model never runs them.
"""

from components.settings.model import Settings

__all__ = ["Settings"]
