"""Print the `pulumi import` commands that adopt a stack's existing PersistentVolumeClaims.

    python -m scripts.adopt_claims --stack prod

A claim the StatefulSet controller made (before the stack made claims itself)
must be imported under the URN the program registers: the claim's name, as a
child of its component (``--parent``), through the stack's Kubernetes provider
(``--provider``), protected where the program protects it. The URNs come from
the stack's offline render, so they are the program's own. See
docs/data-safety.md, "A cluster deployed before this layout".
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass

from components.cluster import PROBE
from tooling.mock_runtime import PROJECT, Registered
from tooling.render import render
from tooling.stack_config import read_stack_config

CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def urn(stack: str, project: str, parent_type: str, type_: str, name: str) -> str:
    """A URN as the engine makes it (pulumi/pulumi sdk/go/common/resource/urn/urn.go, New): the
    parent's qualified type and '$' before the type, except for children of the root stack."""
    qualified = f"{parent_type}${type_}" if parent_type and parent_type != ROOT_STACK_TYPE else type_
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


def qualified_type(urn_: str) -> str:
    return urn_.split("::")[2]


def engine_urns(records: list[Registered], stack: str, project: str) -> dict[str, str]:
    """Mock URN -> the engine's URN. The mocks qualify a type with the root stack's type and only
    the parent's last type; the engine drops the root and keeps the parent's whole chain."""
    by_urn = {r.urn: r for r in records}
    found: dict[str, str] = {}

    def engine(mock_urn: str) -> str:
        if mock_urn not in found:
            record = by_urn[mock_urn]
            parent_type = qualified_type(engine(record.parent)) if record.parent in by_urn else ""
            found[mock_urn] = urn(stack, project, parent_type, record.type, record.name)
        return found[mock_urn]

    for record in records:
        engine(record.urn)
    return found


@dataclass(frozen=True)
class Adoption:
    claim: Registered
    namespace: str
    urn: str  # the claim's URN in the engine
    parent_urn: str
    provider_urn: str  # the provider reference without its "::<id>"

    def argv(self, stack: str) -> list[str]:
        name = self.claim.name
        return [
            "pulumi", "import", CLAIM, name, f"{self.namespace}/{name}",
            "--parent", self.parent_urn,
            "--provider", f"cluster={self.provider_urn}",
            f"--protect={'true' if self.claim.protect else 'false'}",
            "--stack", stack, "--yes",
        ]  # fmt: skip


def adoptions(stack: str) -> list[Adoption]:
    """One adoption per claim the program registers, from the stack's render."""
    result = render(read_stack_config(stack))
    engine = engine_urns(result.records, stack, PROJECT)
    found = []
    for record in result.records:
        if record.type != CLAIM:
            continue
        provider_urn = engine[record.provider.rsplit("::", 1)[0]]
        found.append(Adoption(record, result.settings.namespace, engine[record.urn], engine[record.parent], provider_urn))
    return sorted(found, key=lambda a: a.claim.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.adopt_claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.STACK.yaml")
    args = parser.parse_args(argv)
    found = adoptions(args.stack)
    if found:
        provider = found[0].provider_urn
        # The provider waits for the cluster identity check: its probe provider and the kube-system read.
        probe = urn(args.stack, PROJECT, "", "pulumi:providers:kubernetes", PROBE)
        identity = urn(args.stack, PROJECT, "", "kubernetes:core/v1:Namespace", PROBE)
        targets = " ".join(f"--target {shlex.quote(u)}" for u in (probe, identity, provider))
        print(f"# The claims are imported through the stack's provider. If `pulumi stack --show-urns --stack {args.stack}`")
        print(f"# does not list {provider} (a stack last deployed by an older version), create it first:")
        print(f"#   pulumi up --stack {args.stack} {targets} --yes")
    print("# Run each command whose claim exists in the cluster, then `pulumi preview --diff`.")
    for adoption in found:
        print(shlex.join(adoption.argv(args.stack)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
