"""The generated Alloy configuration against the reference of the deployed Alloy release (tests/support/config_reference/)."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings.loader import load_settings
from components.wiring import endpoints
from tests.support.alloy_parser import parse
from tests.support.config_reference import image_version, reference
from tests.support.config_reference.alloy import check_alloy, normalise
from tests.support.k8s_objects import container, mounted_file
from tooling.render import Render


def _text(render: Render) -> str:
    alloy = container(render, "StatefulSet", endpoints.ALLOY_NAME)
    return mounted_file(render, "StatefulSet", endpoints.ALLOY_NAME, alloy["args"][1])


def _reference(render: Render) -> dict[str, Any]:
    return reference("alloy", image_version(render.settings.alloy.image))


def _errors(render: Render, text: str) -> list[str]:
    return check_alloy(parse(text), _reference(render))


def test_the_reference_is_of_the_deployed_release() -> None:
    for stack in ("dev", "staging", "prod"):
        image = load_settings({}, stack).alloy.image
        source = reference("alloy", image_version(image))["source"]
        assert (source["repo"], source["tag"].lstrip("v")) == ("grafana/alloy", image_version(image))


def test_every_component_argument_and_block_exists_in_the_deployed_release(rendered: Render) -> None:
    text = _text(rendered)
    assert _errors(rendered, text) == []


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"the rendered config no longer has {old!r}: update this test"
    return text.replace(old, new, 1)


def _assert_refused(render_stack, old: str, new: str, expected: str) -> None:
    """The dev render's Alloy config with ``old`` replaced by ``new`` fails the reference check with ``expected``."""
    render = render_stack("dev")
    errors = _errors(render, _replace(_text(render), old, new))
    assert any(expected in error for error in errors), errors


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # A component the release does not have.
        ('otelcol.processor.batch "traces"', 'otelcol.processor.batcher "traces"', "otelcol.processor.batcher is not a component"),
        # A top-level config block it does not have.
        ("logging {", "loging {", "loging: loging is not a config block"),
        # An argument a component does not take.
        ('decision_wait = "10s"', 'decision_wait_time = "10s"', "decision_wait_time is not an argument of the component"),
        # An argument of a nested block it does not take.
        ("insecure = true", "insecure_tls = true", "insecure_tls is not an argument of"),
        # A nested block at a path the component does not document.
        ("status_code {", "status_codes {", "block policy > status_codes does not exist"),
        # A function outside the release's standard library.
        ("sys.env(", "sys.environ(", "sys.environ() is not a standard library function"),
    ],
)
def test_an_invented_name_is_refused(render_stack, old: str, new: str, expected: str) -> None:
    _assert_refused(render_stack, old, new, expected)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('decision_wait = "10s"', 'decision_wait = "10 seconds"', "expected duration, got '10 seconds'"),
        ('decision_wait = "10s"', "decision_wait = 10", "expected duration, got 10"),
        ("sampling_percentage = 100", 'sampling_percentage = "100"', "expected number, got '100'"),
        ("insecure = true", 'insecure = "true"', "expected boolean, got 'true'"),
        ('routing_key = "traceID"', "routing_key = 1", "expected string, got 1"),
        ('status_codes = ["ERROR"]', 'status_codes = "ERROR"', "expected list(string), got 'ERROR'"),
        # A capsule of another kind: logs sent where traces are expected.
        ("traces = [otelcol.processor.batch.traces.input]", "traces = [loki.write.loki.receiver]", "expected otelcol.Consumer, got loki.write.loki.receiver"),
        # An export that does not exist.
        ("forward_to = [loki.write.loki.receiver]", "forward_to = [loki.write.loki.input]", "loki.write.loki.input is not an export"),
    ],
)
def test_a_wrong_typed_value_is_refused(render_stack, old: str, new: str, expected: str) -> None:
    _assert_refused(render_stack, old, new, expected)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('  role = "pod"\n', "", 'discovery.kubernetes "pods": required argument role is missing'),
        ('    source = "level"\n', "", "> stage.template: required argument source is missing"),
        ("status_codes = [\"ERROR\"]", "", "> status_code: required argument status_codes is missing"),
    ],
)
def test_a_missing_required_argument_is_refused(render_stack, old: str, new: str, expected: str) -> None:
    _assert_refused(render_stack, old, new, expected)


def test_a_missing_required_block_is_refused(render_stack) -> None:
    render = render_stack("dev")
    blocks = parse(_text(render))
    batch = next(b for b in blocks if b.name == "otelcol.processor.batch")
    batch.blocks = [b for b in batch.blocks if b.name != "output"]
    errors = check_alloy(blocks, _reference(render))
    assert errors == ['otelcol.processor.batch "traces": required block output is missing']


def test_type_spellings_of_the_docs_are_normalised() -> None:
    assert normalise("[]string") == "list(string)"
    assert normalise("array(string)") == "list(string)"
    assert normalise("lists(map(string)") == "list(map(string))"
    assert normalise("bool") == "boolean"
