# /// script
# requires-python = ">=3.11"
# dependencies = ["httpx==0.28.1"]
# ///
"""Release stuck Seamless backfill leases by failing or completing them explicitly (seeds 000 and 001).

    uv run scripts/lease_recover.py --coordinator-url https://coordinator/v1 --dry-run lease-A:deadbeef
    uv run scripts/lease_recover.py --coordinator-url https://coordinator/v1 lease-A:deadbeef lease-B:feedface
    uv run scripts/lease_recover.py --coordinator-url https://coordinator/v1 --action complete lease-A:deadbeef

Each KEY:TOKEN pair is a lease key and its fencing token as the coordinator's
inspection endpoint exports them. Every pair is checked before anything is
sent; then each lease is released in turn and its outcome printed. Exit
status: 0 when every lease was released, 1 when any was refused, timed out
or not attempted, 2 for bad input (nothing was sent).

The seeds do not define the coordinator's API. This is the contract the
script assumes; adapt LEASE_URL, the body or the status handling here if your
coordinator differs:

    POST {coordinator-url}/leases/{KEY}/fail       body {"token": TOKEN, "reason": REASON}
    POST {coordinator-url}/leases/{KEY}/complete   body {"token": TOKEN}
      KEY is percent-encoded as one path segment; the body is JSON.
      Authorization: Bearer $QMTL_SEAMLESS_COORDINATOR_TOKEN when that variable is set.
    2xx           the lease is released.
    404           the coordinator does not know the lease (already released, or a wrong key).
    409           the token does not match the lease's current holder (it was reclaimed).
    other 4xx     the request was refused; the body's "error" or "detail" field says why.
    5xx           the coordinator failed; the lease's state is unknown, check it before retrying.

Each outcome is printed as soon as it is known. When the coordinator cannot
be reached at all (or on Ctrl-C), the remaining leases are listed as not
attempted. A request sent without a complete answer (a read timeout, a reset
connection) may or may not have been applied; it is reported as unknown and
the next lease is tried.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

ACTIONS = {"fail": "failed", "complete": "completed"}  # action -> past tense, for output
TOKEN_ENV = "QMTL_SEAMLESS_COORDINATOR_TOKEN"
DEFAULT_REASON = "released by lease_recover.py: lease stuck (SeamlessBackfillStuckLease)"
PAIR_FORM = "KEY:TOKEN, both non-empty (e.g. lease-A:deadbeef)"
# Outcomes, as printed.
RELEASED, REFUSED, UNKNOWN, NOT_ATTEMPTED = "released", "refused", "unknown", "not attempted"


class UsageError(ValueError):
    """Bad input: the message names the argument, its value and the accepted form."""


@dataclass(frozen=True)
class Lease:
    key: str
    token: str

    def shown_token(self) -> str:
        """The token shortened for output: enough to tell leases apart, not enough to replay it."""
        return f"{self.token[:4]}… ({len(self.token)} chars)" if len(self.token) > 4 else "…"


@dataclass(frozen=True)
class Outcome:
    lease: Lease
    status: str  # RELEASED, REFUSED, UNKNOWN or NOT_ATTEMPTED
    detail: str


def parse_pair(text: str) -> Lease:
    """``KEY:TOKEN`` -> Lease. The token is after the last colon, so a key may hold colons; UsageError otherwise."""
    key, sep, token = text.rpartition(":")
    if not sep or not key.strip() or not token.strip() or token != token.strip() or key != key.strip():
        raise UsageError(f"lease {text!r} is malformed; accepted form: {PAIR_FORM}")
    return Lease(key, token)


def parse_pairs(texts: list[str]) -> list[Lease]:
    """Every pair parsed; UsageError naming each malformed pair and each repeated key."""
    problems, leases, seen = [], [], set()
    for text in texts:
        try:
            lease = parse_pair(text)
        except UsageError as error:
            problems.append(str(error))
            continue
        if lease.key in seen:
            problems.append(f"lease key {lease.key!r} is given twice; give each lease once")
        seen.add(lease.key)
        leases.append(lease)
    if problems:
        raise UsageError("\n  ".join(problems))
    return leases


def check_url(url: str) -> str:
    """The coordinator base URL without a trailing slash; UsageError unless it is http(s)://host[...]."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise UsageError(f"--coordinator-url {url!r} is not a coordinator URL; accepted form: http(s)://HOST[:PORT][/PATH], e.g. https://coordinator/v1")
    return url.rstrip("/")


def lease_url(base: str, key: str, action: str) -> str:
    return f"{base}/leases/{urllib.parse.quote(key, safe='')}/{action}"


def request_body(lease: Lease, action: str, reason: str) -> dict[str, str]:
    return {"token": lease.token, "reason": reason} if action == "fail" else {"token": lease.token}


def _why(response: httpx.Response) -> str:
    """The coordinator's reason from a JSON error body, else the start of the text body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for field in ("error", "detail", "message"):
            if isinstance(body.get(field), str) and body[field]:
                return str(body[field])
    return response.text.strip()[:200] or response.reason_phrase


MEANING = {404: "the coordinator does not know this lease (already released, or a wrong key)",
           409: "the token does not match the lease's holder (it was reclaimed)"}


def release(client: httpx.Client, base: str, lease: Lease, action: str, reason: str) -> Outcome:
    """Send one release; the outcome. httpx.ConnectError and ConnectTimeout propagate: nothing reached the coordinator."""
    try:
        response = client.post(lease_url(base, lease.key, action), json=request_body(lease, action, reason))
    except (httpx.ConnectError, httpx.ConnectTimeout):
        raise
    except httpx.TransportError as error:  # sent, but no complete answer: a read timeout, a reset connection
        return Outcome(lease, UNKNOWN, f"no complete answer ({type(error).__name__}: {error or 'timed out'}); the lease may or may not be "
                                       "released, check it on the inspection endpoint before retrying")
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(lease, RELEASED, f"{action} accepted (HTTP {code})")
    if code >= 500:
        return Outcome(lease, UNKNOWN, f"the coordinator failed (HTTP {code}: {_why(response)}); check the lease before retrying")
    meaning = MEANING.get(code, "the coordinator refused the request")
    return Outcome(lease, REFUSED, f"HTTP {code}: {meaning}: {_why(response)}")


def recover(base: str, leases: list[Lease], action: str, reason: str, timeout: float, bearer: str | None) -> Iterator[Outcome]:
    """Release each lease in order, yielding one Outcome per lease as it is known, always one for every lease:
    when the coordinator cannot be reached, or on Ctrl-C, the rest are yielded NOT_ATTEMPTED."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    with httpx.Client(timeout=timeout, headers=headers, follow_redirects=False) as client:
        for n, lease in enumerate(leases):
            try:
                yield release(client, base, lease, action, reason)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:  # refused, DNS, TLS, connect timeout
                yield Outcome(lease, NOT_ATTEMPTED, f"coordinator unreachable at {base}: {type(error).__name__}: {error or 'timed out'}")
                yield from (Outcome(rest, NOT_ATTEMPTED, "not sent: the coordinator was unreachable") for rest in leases[n + 1:])
                return
            except KeyboardInterrupt:
                yield Outcome(lease, UNKNOWN, "interrupted while the request was in flight; check the lease before retrying")
                yield from (Outcome(rest, NOT_ATTEMPTED, "not sent: interrupted") for rest in leases[n + 1:])
                return


# Also in seamless_health_check.py and tooling/cli_types.py: each seed script stays self-contained, httpx only (docs/seamless-scripts.md).
def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: a positive number of seconds")
    return value


def parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(prog="lease_recover.py", description=doc.split("\n\n")[0],
                                epilog=doc.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--coordinator-url", required=True, metavar="URL", help="base URL of the coordinator API, e.g. https://coordinator/v1")
    p.add_argument("pairs", nargs="+", metavar="KEY:TOKEN", help="a lease key and its token from the coordinator's inspection endpoint")
    p.add_argument("--action", choices=list(ACTIONS), default="fail",
                   help="fail (default: the range is re-queued and claimed again) or complete (marks the range done; only when the data is known to be there)")
    p.add_argument("--reason", default=DEFAULT_REASON, help="reason recorded with a failed lease")
    p.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS", help="bound on each request (default 10)")
    p.add_argument("--dry-run", action="store_true", help="print the requests that would be sent; contact nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problems = []
    try:
        base = check_url(args.coordinator_url)
    except UsageError as error:
        problems.append(str(error))
    try:
        leases = parse_pairs(args.pairs)
    except UsageError as error:
        problems.append(str(error))
    if problems:
        print("lease_recover: nothing was sent:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.dry_run:
        for lease in leases:
            body = request_body(lease, args.action, args.reason) | {"token": lease.shown_token()}
            print(f"{lease.key}: would POST {lease_url(base, lease.key, args.action)} {json.dumps(body, ensure_ascii=False)}")
        print(f"dry run: {len(leases)} lease(s) would be {ACTIONS[args.action]}; nothing was sent")
        return 0
    outcomes = []
    for outcome in recover(base, leases, args.action, args.reason, args.timeout, os.environ.get(TOKEN_ENV) or None):
        outcomes.append(outcome)  # printed as each is known: an interrupted run has said what it did
        print(f"{outcome.lease.key}: {outcome.status}: {outcome.detail}", file=sys.stdout if outcome.status == RELEASED else sys.stderr, flush=True)
    counts = {status: sum(1 for o in outcomes if o.status == status) for status in (RELEASED, REFUSED, UNKNOWN, NOT_ATTEMPTED)}
    print(f"{len(outcomes)} lease(s): " + ", ".join(f"{n} {status}" for status, n in counts.items() if n))
    return 0 if counts[RELEASED] == len(leases) else 1


if __name__ == "__main__":
    sys.exit(main())
