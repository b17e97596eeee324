"""Pulumi entry point: load and validate the stack's settings, then build the stack."""

import pulumi

from components.settings.errors import SettingsError
from components.settings.pulumi_config import settings_from_pulumi
from program import build

try:
    settings = settings_from_pulumi()
except SettingsError as error:
    # A RunError is shown without a traceback: the message names every bad key.
    raise pulumi.RunError(str(error)) from None

build(settings)
