"""Entry point the Pulumi CLI runs for `--policy-pack policy`.

The CLI runs this file with policy/ on sys.path; the repository root is added
so the pack imports itself as `policy.*`, the same way the tests do."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policy.policies import POLICIES

PolicyPack(name="observability-guardrails", policies=list(POLICIES))
