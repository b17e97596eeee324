"""Pulumi entry point: load and validate the stack's settings, then build the stack."""

import pulumi

from components.settings import SettingsError
from components.settings.pulumi_config import settings_from_pulumi
from components.stack import build_stack

try:
    settings = settings_from_pulumi()
except SettingsError as error:
    # A RunError is shown without a traceback: the message names every bad key.
    raise pulumi.RunError(str(error)) from None

build_stack(settings)
