"""Settings of the alerting and recording rules (components/rules): where their runbook links point."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from components.settings.types import Section, http_url

_RUNBOOK_BASE_FORM = "http(s)://host/path, e.g. https://github.com/org/repo/blob/main"


class RulesSettings(Section):
    # Runbook links are <runbookBaseUrl>/docs/runbooks/<alert>.md: point it at
    # where this repository is browsable (a fork sets its own).
    runbook_base_url: Annotated[str, AfterValidator(http_url(_RUNBOOK_BASE_FORM))]
