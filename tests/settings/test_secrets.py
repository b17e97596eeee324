"""Secrets: a canary value for every declared secret key appears nowhere in what a render produces."""

from __future__ import annotations

import base64

import pytest
from pulumi.runtime import rpc

from components.settings.secrets import SECRET_KEYS
from tests.conftest import STACKS
from tooling.mock_runtime import is_secret
from tooling.render import render_files
from tooling.stack_config import SECRET_PLACEHOLDER


def _canaries() -> dict[str, str]:
    # Distinct per key, long enough for the render's own leak guard to look for it.
    return {key: f"canary-{index}-{key.lower()}-c4f1e9" for index, key in enumerate(sorted(SECRET_KEYS))}


def _needles(value: str) -> set[str]:
    encoded = value.encode()
    return {value, base64.b64encode(encoded).decode(), base64.urlsafe_b64encode(encoded).decode(), encoded.hex()}


@pytest.mark.parametrize("stack", STACKS)
def test_no_canary_reaches_files_or_stack_outputs(render_stack, stack: str) -> None:
    canaries = _canaries()
    result = render_stack(stack, secrets=canaries)
    assert "outputs.json" in result.files
    for key, canary in canaries.items():
        for needle in _needles(canary):
            leaked = [path for path, text in result.files.items() if needle in text]
            assert not leaked, f"{key} leaked into {leaked}"
            assert needle not in repr(result.outputs), f"{key} leaked into the stack outputs"
            assert needle not in repr(result.settings), f"{key} leaked into the settings model"
    # The stack knows which secrets are set without holding their values.
    assert result.settings.secrets_set == frozenset(SECRET_KEYS)


def test_a_secret_stack_output_is_written_as_the_placeholder() -> None:
    secret_output = rpc.wrap_rpc_secret("canary-output")
    assert is_secret(secret_output)
    files = render_files([], {"adminPassword": secret_output, "namespace": "observability"})
    assert "canary-output" not in files["outputs.json"]
    assert SECRET_PLACEHOLDER in files["outputs.json"] and "observability" in files["outputs.json"]
