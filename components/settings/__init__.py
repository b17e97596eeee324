"""Typed, validated settings of one stack (see model.py and defaults.yaml)."""

from components.settings.errors import Problem, SettingsError
from components.settings.loader import ENVIRONMENTS, environment_defaults, load_settings
from components.settings.model import Settings

__all__ = ["ENVIRONMENTS", "Problem", "Settings", "SettingsError", "environment_defaults", "load_settings"]
