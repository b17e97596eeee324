"""The checkov gate's bookkeeping: a finding passes only through a documented skip, and stale skips are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.checkov_gate import SKIPS_FILE, Skip, classify, load_skips, stale_skips


def _report(*failed: tuple[str, str], passed: int = 5) -> dict:
    return {
        "summary": {"passed": passed, "failed": len(failed)},
        "results": {"failed_checks": [{"check_id": c, "check_name": "n", "resource": r} for c, r in failed]},
    }


SKIPS = [
    Skip("CKV_K8S_38", ("DaemonSet.*.alloy",), "reads logs through the API"),
    Skip("CKV_K8S_43", ("*",), "tags are the pin"),
]


def test_only_a_skip_for_that_check_and_resource_hides_a_finding() -> None:
    result = classify(
        "prod",
        _report(("CKV_K8S_38", "DaemonSet.observability.alloy"), ("CKV_K8S_38", "Deployment.observability.grafana"), ("CKV_K8S_43", "X.y.z")),
        SKIPS,
    )
    assert result.passed == 5
    assert result.skipped == [("CKV_K8S_38", "DaemonSet.observability.alloy"), ("CKV_K8S_43", "X.y.z")]
    assert [(check, resource) for check, _, resource in result.failed] == [("CKV_K8S_38", "Deployment.observability.grafana")]


def test_reports_of_several_frameworks_are_summed() -> None:
    result = classify("dev", [_report(passed=3), _report(("CKV_K8S_1", "Pod.a.b"), passed=4)], SKIPS)
    assert result.passed == 7 and len(result.failed) == 1


def test_a_skip_that_matches_nothing_is_stale() -> None:
    results = [classify("dev", _report(("CKV_K8S_43", "Deployment.observability.grafana")), SKIPS)]
    assert stale_skips(results, SKIPS) == [SKIPS[0]]


def test_every_skip_in_the_repo_has_a_reason() -> None:
    skips = load_skips()
    assert skips
    assert all(len(skip.reason) > 20 for skip in skips)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- {check: CKV_K8S_1, resources: ['*'], reason: ''}", "reason is empty"),
        ("- {check: CKV_K8S_1, resources: [], reason: because}", "non-empty list"),
        ("- {check: CKV_K8S_1, reason: because}", "exactly check, resources"),
    ],
)
def test_a_skip_without_reason_or_resources_is_refused(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / SKIPS_FILE.name
    path.write_text(f"skips:\n  {entry}\n")
    with pytest.raises(ValueError, match=message):
        load_skips(path)
