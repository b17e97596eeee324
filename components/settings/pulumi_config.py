"""Read this project's config from the running Pulumi program (engine or mocks)."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from components.settings.loader import load_settings
from components.settings.model import Settings


def settings_from_pulumi() -> Settings:
    # Both places the engine may hand config over: set explicitly, or in PULUMI_CONFIG.
    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    # The program refuses to run without the credentials its receivers need.
    return load_settings(config, pulumi.get_stack(), secret_keys, require_secrets=True)
