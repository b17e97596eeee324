"""``safe_load`` on libyaml's C parser when PyYAML was built with it (the PyPI wheels are).

Same safe constructor and resolver as ``yaml.safe_load``, several times faster: every render
reads the rule, SLO, threshold, catalog and settings files, and the pure-Python parser was a
third of a render's own run time.
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """The document in ``text`` as plain Python values; raises yaml.YAMLError (with a mark) on bad YAML."""
    return yaml.load(text, Loader=SafeLoader)
