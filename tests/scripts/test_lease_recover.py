"""scripts/lease_recover.py against a real coordinator on loopback: every lease reported, bad input refused before sending."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components import paths
from scripts import lease_recover
from tests.support.loopback_coordinator import Coordinator

ROOT = paths.REPO_ROOT
SCRIPT = paths.SCRIPTS_DIR / "lease_recover.py"
RUNBOOKS = paths.RUNBOOKS_DIR


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script as on-call runs it: a file, from the repository root."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The script's main() in this process (same code as the file; the subprocess tests cover running it as a file)."""
    code = lease_recover.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_fails_every_lease_and_reports_each() -> None:
    with Coordinator({"lease-A": "deadbeef", "lease-B": "feedface"}) as coordinator:
        result = run("--coordinator-url", coordinator.url, "lease-A:deadbeef", "lease-B:feedface")
    assert result.returncode == 0, result.stderr
    assert coordinator.released == {"lease-A": "fail", "lease-B": "fail"}
    bodies = [r.body for r in coordinator.received]
    assert bodies == [{"token": "deadbeef", "reason": lease_recover.DEFAULT_REASON}, {"token": "feedface", "reason": lease_recover.DEFAULT_REASON}]
    assert "lease-A: released" in result.stdout and "lease-B: released" in result.stdout
    assert "2 lease(s): 2 released" in result.stdout


def test_complete_action_and_bearer_token_and_key_encoding(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with Coordinator({"tenant/a:lease 1": "t0k3n"}) as coordinator:
        monkeypatch.setenv(lease_recover.TOKEN_ENV, "s3cret-bearer")
        code, out, err = call(capsys, "--coordinator-url", coordinator.url + "/", "--action", "complete", "tenant/a:lease 1:t0k3n")
    assert code == 0, err
    assert coordinator.released == {"tenant/a:lease 1": "complete"}
    (request,) = coordinator.received
    assert request.path == "/v1/leases/tenant%2Fa%3Alease%201/complete"
    assert request.body == {"token": "t0k3n"}
    assert request.authorization == "Bearer s3cret-bearer"
    assert "s3cret-bearer" not in out + err


def test_refused_leases_are_reported_and_the_rest_still_released(capsys: pytest.CaptureFixture[str]) -> None:
    leases = {"good": "aaaa", "stolen": "bbbb", "broken": "cccc"}
    with Coordinator(dict(leases), failing_keys={"broken"}) as coordinator:
        code, out, err = call(capsys, "--coordinator-url", coordinator.url, "stolen:wrong", "gone:dddd", "broken:cccc", "good:aaaa")
    assert code == 1
    assert coordinator.released == {"good": "fail"}
    assert re.search(r"stolen: refused: HTTP 409: the token does not match.*token does not match the current holder", err)
    assert re.search(r"gone: refused: HTTP 404: the coordinator does not know this lease.*unknown lease gone", err)
    assert re.search(r"broken: unknown: the coordinator failed \(HTTP 500: lease store unavailable\)", err)
    assert "good: released" in out
    assert "4 lease(s): 1 released, 2 refused, 1 unknown" in out


def test_a_dropped_connection_is_reported_as_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    """The coordinator applied the release but the answer never came: the script cannot know, and says so."""
    with Coordinator({"dropped": "aaaa", "next": "bbbb"}, dropped_keys={"dropped"}) as coordinator:
        code, out, err = call(capsys, "--coordinator-url", coordinator.url, "dropped:aaaa", "next:bbbb")
    assert code == 1
    assert "dropped: unknown: no complete answer (RemoteProtocolError: Server disconnected without sending a response.)" in err
    assert "next: released" in out


def test_ctrl_c_reports_every_lease(tmp_path: Path) -> None:
    """Interrupted mid-way: what was done is already printed, the lease in flight is unknown, the rest not attempted."""
    with Coordinator({"first": "a1", "slow": "b2", "third": "c3"}, slow_keys={"slow": 5.0}) as coordinator:
        # As from a terminal: a shell starts background jobs (a backgrounded `make test`) with SIGINT ignored, the
        # child inherits that, and Python installs no KeyboardInterrupt handler for an ignored signal. A handled
        # signal is reset to the default at exec, so handling it here while the child starts gives it Ctrl-C back.
        ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            process = subprocess.Popen([sys.executable, str(SCRIPT), "--coordinator-url", coordinator.url, "first:a1", "slow:b2", "third:c3"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        finally:
            if ignored:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        deadline = time.monotonic() + 30
        while not any(r.path.endswith("/slow/fail") for r in coordinator.received) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "first: released" in out
    assert "slow: unknown: interrupted while the request was in flight" in err
    assert "third: not attempted: not sent: interrupted" in err
    assert "3 lease(s): 1 released, 1 unknown, 1 not attempted" in out
    assert "Traceback" not in err


def test_timeout_is_reported_as_unknown_and_the_next_lease_is_tried(capsys: pytest.CaptureFixture[str]) -> None:
    with Coordinator({"slow": "aaaa", "fast": "bbbb"}, slow_keys={"slow": 1.0}) as coordinator:
        code, out, err = call(capsys, "--coordinator-url", coordinator.url, "--timeout", "0.2", "slow:aaaa", "fast:bbbb")
    assert code == 1
    assert "slow: unknown: no complete answer (ReadTimeout: timed out); the lease may or may not be released" in err
    assert "fast: released" in out


def test_unreachable_coordinator_reports_every_lease_not_attempted() -> None:
    with Coordinator({}) as coordinator:
        url = coordinator.url
    # The server is closed: its port refuses connections.
    result = run("--coordinator-url", url, "lease-A:deadbeef", "lease-B:feedface")
    assert result.returncode == 1
    assert f"lease-A: not attempted: coordinator unreachable at {url}" in result.stderr
    assert "lease-B: not attempted: not sent: the coordinator was unreachable" in result.stderr
    assert "2 lease(s): 2 not attempted" in result.stdout
    assert "Traceback" not in result.stderr


def test_dry_run_contacts_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with Coordinator({"lease-A": "deadbeef"}) as coordinator:
        code, out, err = call(capsys, "--coordinator-url", coordinator.url, "--dry-run", "lease-A:deadbeef")
    assert code == 0, err
    assert coordinator.received == [] and coordinator.leases == {"lease-A": "deadbeef"}
    assert f"lease-A: would POST {coordinator.url}/leases/lease-A/fail" in out
    assert "deadbeef" not in out
    assert "nothing was sent" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lease-A"], "lease 'lease-A' is malformed; accepted form: KEY:TOKEN"),
        (["lease-A:"], "lease 'lease-A:' is malformed"),
        ([":deadbeef"], "lease ':deadbeef' is malformed"),
        (["lease-A: deadbeef"], "lease 'lease-A: deadbeef' is malformed"),
        (["a:1", "a:2"], "lease key 'a' is given twice"),
    ],
)
def test_malformed_pairs_are_refused_before_anything_is_sent(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Coordinator({"a": "1", "lease-A": "deadbeef"}) as coordinator:
        code, out, err = call(capsys, "--coordinator-url", coordinator.url, "good:1", *args)
    assert code == 2
    assert message in err and "nothing was sent" in err and out == ""
    assert coordinator.received == []


@pytest.mark.parametrize("url", ["coordinator/v1", "ftp://coordinator/v1", "https:///v1", "https://coordinator/v1?x=1"])
def test_bad_coordinator_url_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert lease_recover.main(["--coordinator-url", url, "lease-A:deadbeef"]) == 2
    err = capsys.readouterr().err
    assert f"--coordinator-url {url!r} is not a coordinator URL; accepted form: http(s)://HOST" in err


@pytest.mark.parametrize("timeout", ["0", "-1", "soon", "inf"])
def test_bad_timeout_is_refused(timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        lease_recover.main(["--coordinator-url", "https://c/v1", "--timeout", timeout, "a:b"])
    assert exit_.value.code == 2
    assert f"got {timeout!r}; accepted: a positive number of seconds" in capsys.readouterr().err


def test_missing_arguments_name_what_is_needed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        lease_recover.main(["lease-A:deadbeef"])
    assert exit_.value.code == 2
    assert "--coordinator-url" in capsys.readouterr().err


def runbook_commands() -> list[tuple[str, str]]:
    """Every `uv run scripts/lease_recover.py ...` line in the runbooks, with its file."""
    found = []
    for path in sorted(RUNBOOKS.glob("*.md")):
        for line in path.read_text().splitlines():
            if "scripts/lease_recover.py" in line and line.strip().startswith("uv run"):
                found.append((path.name, line.strip()))
    return found


def test_the_runbooks_lease_recover_commands_work_as_written() -> None:
    commands = runbook_commands()
    assert len(commands) >= 4
    for runbook, line in commands:
        args = line.split()[3:]  # after: uv run scripts/lease_recover.py
        assert args[:2] == ["--coordinator-url", "https://coordinator/v1"], (runbook, line)
        pairs = ["lease-A:deadbeef" if a == "<KEY>:<TOKEN>" else a for a in args[2:] if ":" in a]
        with Coordinator({"lease-A": "deadbeef"}) as coordinator:
            flags = [a for a in args[2:] if a.startswith("--")]
            argv = ["--coordinator-url", coordinator.url, *flags, *pairs]
            if (runbook, line) == commands[0]:
                result = run(*argv)
                code, err = result.returncode, result.stderr
            else:
                code, err = lease_recover.main(argv), ""
        assert code == 0, (runbook, line, err)
        assert coordinator.released == ({} if "--dry-run" in flags else {"lease-A": "fail"}), (runbook, line)


def test_the_runbook_states_the_client_contract_of_the_script() -> None:
    """One contract: the runbook carries the script's help text block verbatim, so a team adapting one sees the other."""
    contract = (lease_recover.__doc__ or "").split("\n\n")[4]
    assert "POST {coordinator-url}/leases/{KEY}/fail" in contract
    lines = [line.strip() for line in contract.splitlines()]
    runbook = [line.strip() for line in (RUNBOOKS / "SeamlessBackfillStuckLease.md").read_text().splitlines()]
    starts = [n for n, line in enumerate(runbook) if line == lines[0]]
    assert any(runbook[n:n + len(lines)] == lines for n in starts), "the runbook's contract block differs from lease_recover.py's"
