"""The adoption commands import each claim under the URN the program registers.

`pulumi import TYPE NAME ID` without --parent records the claim as a child of
the stack; the program registers it under its component, so the next `up`
would try to create it again. The engine's URN rule is modelled in
scripts/adopt_claims.urn (pulumi/pulumi urn.New).
"""

from __future__ import annotations

import shlex

import pytest

from scripts.adopt_claims import CLAIM, adoptions, main, qualified_type, urn
from tests.support.pulumi_cli import cli_problems
from tooling.mock_runtime import PROJECT


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_import_lands_on_the_program_s_urn(stack: str) -> None:
    found = adoptions(stack)
    assert {a.claim.name for a in found} >= {"grafana-data", "pushgateway-data", "data-loki-0", "data-tempo-0"}
    for adoption in found:
        argv = adoption.argv(stack)
        parent = argv[argv.index("--parent") + 1]
        imported = urn(stack, PROJECT, qualified_type(parent), CLAIM, argv[3])
        assert imported == adoption.urn, "the import would record a URN the program does not use"
        bare = urn(stack, PROJECT, "", CLAIM, argv[3])
        assert bare != adoption.urn  # the old documented command, without --parent
        assert argv[argv.index("--provider") + 1] == f"cluster=urn:pulumi:{stack}::{PROJECT}::pulumi:providers:kubernetes::cluster"
        assert f"--protect={'true' if stack == 'prod' else 'false'}" in argv


def test_the_engine_drops_the_root_stack_from_a_urn() -> None:
    assert urn("dev", "p", "pulumi:pulumi:Stack", "a:b:C", "x") == "urn:pulumi:dev::p::a:b:C::x"
    assert urn("dev", "p", "o:m:Comp", "a:b:C", "x") == "urn:pulumi:dev::p::o:m:Comp$a:b:C::x"


def test_the_script_prints_one_command_per_claim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("pulumi import")]
    assert len(lines) == len(adoptions("dev")) and all("--parent" in line for line in lines)
    # The hint for a stack whose state predates the explicit provider, and every import, are valid CLI.
    commands = [line.removeprefix("#").strip() for line in out.splitlines() if "pulumi up" in line or line.startswith("pulumi import")]
    assert any(c.startswith("pulumi up") for c in commands)
    assert [p for c in commands for p in cli_problems(shlex.split(c))] == []
