"""The text of every notification Alertmanager sends, bounded whatever the size of the alert group.

A group can hold hundreds of alerts (one per pod or per instance in a large incident); a template
that repeats every alert grows with it and runs into the sink's limit exactly then
(prometheus/alertmanager#2769: a 300-alert group made ~43,000 characters of Slack text). So every
template here lists the first ``LISTED_ALERTS`` alerts, each cut to ``SUMMARY_CHARS`` and
``DESCRIPTION_CHARS``, counts the rest, and puts the runbook and dashboard links first, where no
cut of the listing reaches them (each link is bounded by ``URL_CHARS`` of its own). The summary and
links come from the first firing alert of the group. The templates are Go text/template as Alertmanager 0.28.1 runs them (its
function map: template/template.go DefaultFuncs, and Go's builtins ``slice``, ``len``, ``index``).

The sinks' limits, each written once (docs/metrics.md, "Notification sizes"):
"""

from __future__ import annotations

# Slack truncates a message's text above 40,000 characters and advises keeping it under 4,000
# (api.slack.com changelog 2018-04, "Truncating really long messages"); a long text is also split or
# folded by the clients. The stack's Slack text is kept under the advised size.
SLACK_TEXT_TRUNCATED_CHARS = 40_000
SLACK_TEXT_ADVISED_CHARS = 4_000
# Alertmanager 0.28.1 cuts a Slack title at 1,024 runes (notify/slack/slack.go, maxTitleLenRunes).
SLACK_TITLE_RUNES = 1_024
# PagerDuty Events API v2: a summary of at most 1,024 characters (Alertmanager cuts the description
# there, notify/pagerduty/pagerduty.go maxV2SummaryLenRunes) and an event of at most 512,000 bytes
# (above it Alertmanager drops every custom detail: maxEventSize).
PAGERDUTY_SUMMARY_CHARS = 1_024
PAGERDUTY_EVENT_BYTES = 512_000
# E-mail has no limit in Alertmanager; a mail server refuses a message above the size it announces
# (SMTP SIZE, RFC 1870), commonly megabytes: the same bounded listing keeps a message to kilobytes.

# What one notification shows of its group.
LISTED_ALERTS = 5
SUMMARY_CHARS = 200
DESCRIPTION_CHARS = 400
# A runbook or dashboard URL: the rules write about a hundred characters; an annotation from elsewhere (a
# dashboard link carrying a whole query) is cut here, so the copies of it in a PagerDuty event (details
# and links) cannot approach the event limit (a 20,000-character URL made an 80 KB event). A cut URL
# ends in an ellipsis and may not resolve; the runbook's own name is near its start.
URL_CHARS = 500


def cut(expression: str, chars: int) -> str:
    """A template pipeline: ``expression`` cut to its first ``chars`` characters (runes), with an ellipsis when cut.

    Alertmanager's templates have no substring function; RE2 counts ``.`` in runes and allows
    repetitions up to 1,000, so ``chars`` must stay below that.
    """
    if not 0 < chars < 1000:
        raise ValueError(f"cut: {chars} characters; RE2 repeats at most 1000 times")
    return f'(reReplaceAll "(?s)^(.{{{chars}}}).+$" "${{1}}…" ({expression}))'


# The alerts a notification lists: the firing ones, or (a resolved notification) the resolved ones.
FIRING_ELSE_RESOLVED = "{{ $shown := .Alerts.Firing }}{{ if not $shown }}{{ $shown = .Alerts.Resolved }}{{ end }}"
# The alert whose summary and links a notification shows: the first firing one, else the first. A group
# that mixes firing and resolved alerts (send_resolved) may list a resolved one first in .Alerts.
FIRST_FIRING_ELSE_FIRST = "{{ $first := index .Alerts 0 }}{{ with .Alerts.Firing }}{{ $first = index . 0 }}{{ end }}"


def first_alert(field: str, chars: int) -> str:
    """A whole template: ``field`` of the first firing alert (else the first alert), e.g.
    ``.Annotations.runbook_url``, cut to ``chars``. Each PagerDuty field is a template of its own."""
    return FIRST_FIRING_ELSE_FIRST + "{{ " + cut(f"$first{field}", chars) + " }}"


def _links(line: str) -> str:
    """The runbook and dashboard of the first firing alert (else the first), one ``line`` each (``line``
    formats NAME and URL), each URL cut to URL_CHARS.

    The stack groups by alertname and service, so every alert of a group shares them."""
    url = "{{ " + cut(".", URL_CHARS) + " }}"
    runbook = line.replace("NAME", "Runbook").replace("URL", url)
    dashboard = line.replace("NAME", "Dashboard").replace("URL", url)
    return (
        FIRST_FIRING_ELSE_FIRST
        + "{{ with $first }}"
        f"{{{{ with .Annotations.runbook_url }}}}{runbook}{{{{ end }}}}"
        f"{{{{ with .Annotations.dashboard_url }}}}{dashboard}{{{{ end }}}}"
        "{{ end }}"
    )


def _listing(item: str, more: str, shown: str = FIRING_ELSE_RESOLVED) -> str:
    """The first LISTED_ALERTS of the alerts ``shown`` sets in ``$shown``, each as ``item`` (SUMMARY and DESCRIPTION
    stand for the cut annotations), then ``more`` (REST: how many are not listed; ALL: how many there are) when some are not."""
    summary = "{{ " + cut("$alert.Annotations.summary", SUMMARY_CHARS) + " }}"
    description = "{{ " + cut("$alert.Annotations.description", DESCRIPTION_CHARS) + " }}"
    rest = f"{{{{ len (slice $shown {LISTED_ALERTS}) }}}}"
    return (
        shown
        + f"{{{{ range $index, $alert := $shown }}}}{{{{ if lt $index {LISTED_ALERTS} }}}}"
        + item.replace("SUMMARY", summary).replace("DESCRIPTION", description)
        + "{{ end }}{{ end }}"
        + f"{{{{ if gt (len $shown) {LISTED_ALERTS} }}}}"
        + more.replace("REST", rest).replace("ALL", "{{ len $shown }}")
        + "{{ end }}"
    )


SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }}, {{ .CommonLabels.environment }})"
)
SLACK_TEXT = (
    _links("NAME: URL\n")
    + _listing("*SUMMARY*\nDESCRIPTION\n", "_…and REST more (ALL in all): see the dashboard._\n")
)

PAGERDUTY_DESCRIPTION = (
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.environment }}, {{ .Alerts.Firing | len }} firing): "
    + first_alert(".Annotations.summary", SUMMARY_CHARS)
)


def _plain_listing(alerts: str) -> str:
    """A plain-text listing of ``alerts`` (``.Alerts.Firing`` or ``.Alerts.Resolved``) for a PagerDuty detail."""
    return _listing("- SUMMARY\n", "…and REST more (ALL in all)\n", shown=f"{{{{ $shown := {alerts} }}}}")


# PagerDuty's custom details: Alertmanager adds its own `firing` and `resolved` (every alert with every
# label, unbounded: config/notifiers.go DefaultPagerdutyDetails) unless the config sets those keys.
PAGERDUTY_DETAILS = {
    "firing": _plain_listing(".Alerts.Firing"),
    "resolved": _plain_listing(".Alerts.Resolved"),
    "num_firing": "{{ .Alerts.Firing | len }}",
    "num_resolved": "{{ .Alerts.Resolved | len }}",
    "runbook": first_alert(".Annotations.runbook_url", URL_CHARS),
    "dashboard": first_alert(".Annotations.dashboard_url", URL_CHARS),
}
# Shown as links on the incident; Alertmanager leaves out a link whose href renders empty.
PAGERDUTY_LINKS = [
    {"href": first_alert(".Annotations.runbook_url", URL_CHARS), "text": "Runbook"},
    {"href": first_alert(".Annotations.dashboard_url", URL_CHARS), "text": "Dashboard"},
]

# E-mail: Alertmanager's default HTML (email.default.html) repeats every alert with all its labels.
EMAIL_HTML = (
    "<p>" + _links('<a href="URL">NAME</a><br>') + "</p>"
    + _listing("<p><b>SUMMARY</b><br>DESCRIPTION</p>", "<p><i>…and REST more (ALL in all): see the dashboard.</i></p>")
)
EMAIL_TEXT = _links("NAME: URL\n") + "\n" + _listing("* SUMMARY\n  DESCRIPTION\n", "…and REST more (ALL in all): see the dashboard.\n")
