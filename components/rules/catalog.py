"""The metric catalog: which metrics exist and which labels they carry.

Data lives in ``catalog/metrics.yaml``; this module loads and queries it.

    from components.rules.catalog import load_catalog

    cat = load_catalog()
    cat.has_metric("dvt_run_completion_duration_seconds_bucket")  # True
    cat.labels("dvt_run_completion_duration_seconds_bucket")      # {..., "le", "planId"}
    cat.family("node_process_duration_ms_sum").type                # "histogram"

Series names are resolved to their family with the exposition suffixes:
histogram ``_bucket`` (adds ``le``), ``_sum``, ``_count``; summary
``_sum``/``_count`` (the bare name adds ``quantile``); a counter family named
without ``_total`` is also found as ``<name>_total``; counters, histograms
and summaries also answer to ``_created`` (OpenMetrics).

Failure modes (issue 14), recorded per family so rules can be guarded and
tested against them:

- ``job``: the scrape job whose targets export the family (set per system or
  per metric; ``"*"`` for series Prometheus writes per target, such as ``up``;
  ``scrape: <exporter>`` for the stack's own exporters, whose job
  ``components/wiring/scrape_jobs.py`` gives).
  When every target of that job is down or gone the family vanishes, so its
  absence means the source is down;
- ``churn_labels``: labels with one value per run (``run_id``); every run is a
  new series that is born holding its final value;
- ``born_non_zero_labels`` (derived): the own labels of a counter or
  histogram whose children are created by their first increment, minus the
  ones listed in ``preinitialised`` (children the client creates at zero).

``FORBIDDEN_LABELS`` is the seed 004 list of high-cardinality labels that
must never appear in metrics, rules, dashboards or log stream labels.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from components import paths
from components.kit import yaml_load
from components.wiring import scrape_jobs

CATALOG_PATH = paths.CATALOG_FILE

FORBIDDEN_LABELS: frozenset[str] = frozenset(
    {
        "user_id",
        "email",
        "ip_address",
        "message_id",
        "document_id",
        "thread_id",
        "timestamp",
        "request_id",
        "trace_id",
    }
)

METRIC_TYPES = ("counter", "gauge", "histogram", "summary")
_METRIC_KEYS = {"type", "labels", "help", "buckets", "job", "scrape", "churn_labels", "preinitialised"}
_SYSTEM_KEYS = {"source", "metrics", "required_labels", "per_service", "job", "scrape"}
ANY_JOB = "*"  # the series carries the job of whichever target it describes (up, scrape_*)


def stored_bound(value: float) -> str:
    """The text Prometheus 3 stores as the ``le`` of a scraped classic-histogram bucket (and the ``quantile`` of a
    summary) whose bound is ``value``, however the target spelled it (``5``, ``5.0``, ``5e0``).

    Prometheus 3.0 normalises these label values on ingestion (prometheus/prometheus#15164; Prometheus 2 kept
    the exposition's text, so Go clients' ``le="5"`` and Python clients' ``le="5.0"`` were different series):
    Go's shortest ``%g`` of the float, with ``.0`` appended when that has neither a point nor an exponent
    (``formatOpenMetricsFloat`` in model/textparse): 5 -> ``5.0``, 0.5 -> ``0.5``, 1e6 -> ``1e+06``,
    5e-05 -> ``5e-05``, infinity -> ``+Inf``.
    """
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0.0"
    # repr() gives the shortest digits that read back as the same float, as Go's strconv does.
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    power = len(mantissa) + exponent - 1
    if power < -4 or power >= 6:  # %g with the shortest precision switches to %e outside [1e-4, 1e6)
        text = mantissa[0] + (f".{mantissa[1:]}" if len(mantissa) > 1 else "") + f"e{'-' if power < 0 else '+'}{abs(power):02d}"
    else:
        text = format(Decimal(repr(abs(value))).normalize(), "f")
    text = ("-" if sign else "") + text
    return text if "." in text or "e" in text else f"{text}.0"


class CatalogError(ValueError):
    """The catalog file is malformed; the message names file, key and accepted form."""


@dataclass(frozen=True)
class Metric:
    """One metric family as the catalog declares it."""

    name: str
    type: str
    labels: frozenset[str]
    help: str
    system: str
    buckets: tuple[float, ...] = ()
    job: str = ""
    churn_labels: frozenset[str] = frozenset()
    preinitialised: frozenset[str] = frozenset()
    own_labels: frozenset[str] = frozenset()  # labels declared on the family itself (not system-required)

    @property
    def born_non_zero_labels(self) -> frozenset[str]:
        """Labels whose new values create a child already holding its first increment."""
        if self.type not in ("counter", "histogram"):
            return frozenset()
        return self.own_labels - self.preinitialised


@dataclass(frozen=True)
class Catalog:
    """Metric families by name, plus the labels every scraped series carries."""

    metrics: dict[str, Metric]
    common_labels: frozenset[str]
    _series: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Pre-compute every accepted series name -> (family, extra labels).
        for m in self.metrics.values():
            for series, extra in _series_names(m):
                self._series.setdefault(series, (m.name, extra))

    def has_metric(self, series: str) -> bool:
        """True when ``series`` (a name as written in PromQL) is in the catalog."""
        return series in self._series

    def family(self, series: str) -> Metric:
        """The family a series name belongs to; KeyError when unknown."""
        try:
            return self.metrics[self._series[series][0]]
        except KeyError:
            raise KeyError(f"metric {series!r} is not in the catalog ({CATALOG_PATH})") from None

    def labels(self, series: str) -> frozenset[str]:
        """Every label a series may carry: its own, the type-implied ones and the scrape labels."""
        fam = self.family(series)
        return fam.labels | self._series[series][1] | self.common_labels | {"__name__"}

    def le_problem(self, series: str, op: str, value: str) -> str | None:
        """Why an ``le`` matcher (op ``=`` or ``=~``, as written) on ``series`` matches no catalog bucket, or None.

        Bounds are compared as the text Prometheus 3 stores for a scraped bucket (:func:`stored_bound`:
        bucket 5 is ``5.0``, whether the client wrote ``5`` or ``5.0``); a regex must match at least one
        bound's stored text. A matcher that names a bucket only in a client's spelling (``le="5"``, which
        matched Go clients' series on Prometheus 2) is refused with the stored text to write instead.
        """
        if not series.endswith("_bucket") or not self.has_metric(series):
            return None
        fam = self.family(series)
        if fam.type != "histogram":
            return None
        stored = {stored_bound(b): b for b in fam.buckets} | {"+Inf": math.inf}
        spelled: dict[str, float] = {}
        for b in fam.buckets:
            plain = str(int(b)) if b.is_integer() else repr(b)
            spelled |= dict.fromkeys((plain, repr(float(b)), f"{plain}.0"), b)
        if op in ("=", "MatchOp.Equal"):
            ok = value in stored
            client_only = sorted({stored_bound(spelled[value])}) if not ok and value in spelled else []
        elif op in ("=~", "MatchOp.Re"):
            ok = any(re.fullmatch(value, t) for t in stored)
            client_only = sorted({stored_bound(b) for t, b in spelled.items() if re.fullmatch(value, t)})
        else:
            return None
        if ok:
            return None
        if client_only:
            return (f"{series}: le {value!r} matches no series on Prometheus 3, which stores a scraped bucket's le "
                    f"normalised on ingestion: write {' or '.join(client_only)} (catalog/metrics.yaml)")
        shown = [str(int(b)) if b.is_integer() else repr(b) for b in fam.buckets]
        return f"{series} has no bucket le {value!r}; catalog buckets of {fam.name}: {shown} (catalog/metrics.yaml)"

    def names(self) -> list[str]:
        """Every family name, sorted."""
        return sorted(self.metrics)

    def series_names(self) -> list[str]:
        """Every series name a query may use (families with their suffixes), sorted."""
        return sorted(self._series)

    def by_system(self, system: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.system == system]


def _series_names(m: Metric) -> list[tuple[str, frozenset[str]]]:
    none: frozenset[str] = frozenset()
    if m.type == "histogram":
        return [
            (f"{m.name}_bucket", frozenset({"le"})),
            (f"{m.name}_sum", none),
            (f"{m.name}_count", none),
            (f"{m.name}_created", none),
        ]
    if m.type == "summary":
        return [
            (m.name, frozenset({"quantile"})),
            (f"{m.name}_sum", none),
            (f"{m.name}_count", none),
            (f"{m.name}_created", none),
        ]
    if m.type == "counter":
        base = m.name.removesuffix("_total")
        out = [(m.name, none), (f"{base}_created", none)]
        if not m.name.endswith("_total"):
            out.append((f"{m.name}_total", none))
        return out
    return [(m.name, none)]


def _fail(path: Path, where: str, value: Any, accepted: str) -> CatalogError:
    return CatalogError(f"{path}: {where}: got {value!r}; accepted: {accepted}")


def _labels(path: Path, where: str, raw: Any) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise _fail(path, where, raw, "a list of label names")
    bad = sorted(set(raw) & FORBIDDEN_LABELS)
    if bad:
        raise _fail(path, where, bad, f"labels other than the forbidden {sorted(FORBIDDEN_LABELS)}")
    return frozenset(raw)


def _job(path: Path, where: str, raw: dict[str, Any], inherited: str) -> str:
    """The family's job: ``scrape: <exporter>`` read from components/wiring/scrape_jobs.py (the stack's own
    scrapes), ``job: <name>`` for the monitored systems' jobs, else the system's."""
    if "scrape" in raw and "job" in raw:
        raise _fail(path, where, sorted(raw), "either scrape (an exporter the stack scrapes) or job (a monitored system's job), not both")
    if "scrape" in raw:
        try:
            return scrape_jobs.job(str(raw["scrape"]))
        except scrape_jobs.UnknownExporterError:
            raise _fail(path, f"{where}.scrape", raw["scrape"], f"one of {sorted(scrape_jobs.EXPORTERS)}") from None
    job = raw.get("job", inherited)
    if not isinstance(job, str):
        raise _fail(path, f"{where}.job", job, "the scrape job that exports it (scrape: <exporter> for the stack's own, "
                    f"job: <name> for a monitored system's, on the system or the metric), or job: '{ANY_JOB}' for per-target series")
    if "job" in raw and job in scrape_jobs.EXPORTERS:
        # The stack's own jobs are read from its monitors, so they follow a rename.
        raise _fail(path, f"{where}.job", job, f"scrape: {job} (the job of a scrape the stack renders)")
    return job


def _metric(path: Path, system: str, name: str, raw: Any, extra: frozenset[str], job: str = "") -> Metric:
    where = f"systems.{system}.metrics.{name}"
    if not isinstance(raw, dict):
        raise _fail(path, where, raw, "a mapping with type, labels, help")
    unknown = sorted(set(raw) - _METRIC_KEYS)
    if unknown:
        raise _fail(path, f"{where}.{unknown[0]}", unknown[0], f"one of {sorted(_METRIC_KEYS)}")
    mtype = raw.get("type")
    if mtype not in METRIC_TYPES:
        raise _fail(path, f"{where}.type", mtype, " | ".join(METRIC_TYPES))
    buckets = raw.get("buckets") or []
    if not isinstance(buckets, list) or not all(isinstance(b, (int, float)) for b in buckets):
        raise _fail(path, f"{where}.buckets", buckets, "a list of numbers")
    if mtype == "histogram" and sorted(buckets) != buckets:
        raise _fail(path, f"{where}.buckets", buckets, "bucket bounds in ascending order")
    own = _labels(path, f"{where}.labels", raw.get("labels"))
    churn = _labels(path, f"{where}.churn_labels", raw.get("churn_labels"))
    pre = _labels(path, f"{where}.preinitialised", raw.get("preinitialised"))
    for key, subset in (("churn_labels", churn), ("preinitialised", pre)):
        if not subset <= own:
            raise _fail(path, f"{where}.{key}", sorted(subset - own), f"labels of the metric itself: {sorted(own)}")
    job = _job(path, where, raw, job)
    return Metric(
        name=name,
        type=mtype,
        labels=own | extra,
        help=str(raw.get("help", "")),
        system=system,
        buckets=tuple(float(b) for b in buckets),
        job=job,
        churn_labels=churn,
        preinitialised=pre,
        own_labels=own,
    )


def parse_catalog(data: Any, path: Path = CATALOG_PATH) -> Catalog:
    """Build a Catalog from already-loaded YAML data (``path`` is used in errors)."""
    if not isinstance(data, dict) or not isinstance(data.get("systems"), dict):
        raise _fail(path, "systems", None if not isinstance(data, dict) else data.get("systems"),
                    "a mapping of system name to {source, metrics}")
    common = _labels(path, "common_labels", data.get("common_labels"))
    metrics: dict[str, Metric] = {}

    def add(m: Metric) -> None:
        if m.name in metrics:
            raise _fail(path, f"systems.{m.system}.metrics.{m.name}", m.name,
                        f"a name not already declared by system {metrics[m.name].system}")
        metrics[m.name] = m

    for system, body in data["systems"].items():
        if not isinstance(body, dict):
            raise _fail(path, f"systems.{system}", body, "a mapping with source and metrics")
        unknown = sorted(set(body) - _SYSTEM_KEYS)
        if unknown:
            raise _fail(path, f"systems.{system}.{unknown[0]}", unknown[0], f"one of {sorted(_SYSTEM_KEYS)}")
        required = _labels(path, f"systems.{system}.required_labels", body.get("required_labels"))
        job = _job(path, f"systems.{system}", body, "") if ("job" in body or "scrape" in body) else ""
        for name, raw in (body.get("metrics") or {}).items():
            add(_metric(path, system, name, raw, required, job))
        per = body.get("per_service")
        if per is not None:
            services = per.get("services") if isinstance(per, dict) else None
            if not isinstance(services, list) or not services:
                raise _fail(path, f"systems.{system}.per_service.services", services, "a list of service names")
            for svc in services:
                # The job may name the service: job: copilot-{service}.
                svc_job = str(per.get("job", job)).replace("{service}", svc)
                for suffix, raw in (per.get("metrics") or {}).items():
                    add(_metric(path, system, f"{system}_{svc}_{suffix}", raw, required, svc_job))
    return Catalog(metrics=metrics, common_labels=common)


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Load the catalog from ``path`` (default: the repository's catalog/metrics.yaml)."""
    p = Path(path) if path is not None else CATALOG_PATH
    if path is None:
        return _default_catalog()
    return _read(p)


def _read(p: Path) -> Catalog:
    try:
        data = yaml_load.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{p}: cannot read the metric catalog: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{p}: not valid YAML: {exc}") from exc
    return parse_catalog(data, p)


@lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    return _read(CATALOG_PATH)
