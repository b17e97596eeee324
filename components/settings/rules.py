"""Settings of the alerting and recording rules (components/rules): where their runbook links point."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from components.settings.types import HTTP_URL_RE, Section


def _http_url(value: str) -> str:
    if not HTTP_URL_RE.match(value):
        raise ValueError("not a URL; accepted form: http(s)://host/path, e.g. https://github.com/org/repo/blob/main")
    return value.rstrip("/")


class RulesSettings(Section):
    # Runbook links are <runbookBaseUrl>/docs/runbooks/<alert>.md: point it at
    # where this repository is browsable (a fork sets its own).
    runbook_base_url: Annotated[str, AfterValidator(_http_url)]
