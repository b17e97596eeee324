"""What an error message may show of a value: anything that looks secret is replaced, whatever its key.

A secret typed under a near-miss key (``slackWebhookURL``) or in plain text where a
Pulumi secret is expected must not be printed back: the message ends up in CI logs.
"""

from __future__ import annotations

import re
from typing import Any

HIDDEN = "<hidden: looks like a secret>"
# Key names that hold credentials (any part of a dotted key, any case).
_SECRET_KEY_RE = re.compile(
    r"pass(word|wd|phrase)?|secret(?![-_]?name)|token|webhook|api[-_]?key|routing[-_]?key|private[-_]?key|credential|auth(?!ority)|bearer|cookie", re.I
)
# Values that carry credentials whatever their key: URLs with user info or a known hook host,
# key material, and long runs of token characters with letters and digits mixed.
_SECRET_VALUE_RES = (
    re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"hooks\.slack\.com|discord(app)?\.com/api/webhooks|events\.pagerduty\.com|webhook\.office\.com", re.I),
    re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)"),
    re.compile(r"\b(xox[abposr]-|gh[pousr]_|glsa_|glc_|sk-|AKIA|ASIA|AIza)[A-Za-z0-9_-]{8,}"),
    # No '/' or '.': image references and host names are long too, and must stay readable.
    re.compile(r"(?=[A-Za-z0-9+_=-]*[0-9])(?=[A-Za-z0-9+_=-]*[A-Za-z])[A-Za-z0-9+_=-]{32,}"),
)


def secret_looking_key(key: str) -> bool:
    return bool(_SECRET_KEY_RE.search(key))


def secret_looking_value(value: str) -> bool:
    return any(pattern.search(value) for pattern in _SECRET_VALUE_RES)


def masked(key: str, value: Any) -> Any:
    """``value`` with every part that is secret by its key or by its look replaced by HIDDEN."""
    if isinstance(value, dict):
        return {k: masked(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(key, v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if secret_looking_key(key.rsplit(".", 1)[-1].rsplit(":", 1)[-1]) or secret_looking_value(str(value)):
        return HIDDEN
    return value
