"""Field types shared by every settings section.

Values keep the form the operator wrote (``7d``, ``20Gi``) so rendered objects
read like the config that produced them; the parsers in ``units`` check them
and give the numbers the cross-field checks need.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

from components.settings import units

IMAGE_FORM = "registry/repository:tag with a fixed tag that is not 'latest' (e.g. quay.io/prometheus/pushgateway:v1.11.0), optionally @sha256:digest"
_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/-]*(?::\d+)?(?:/[a-z0-9._-]+)*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(?:@sha256:[a-f0-9]{64})?\Z",
    re.ASCII,
)


MAX_REPLICAS = 10
# Kubernetes' integer fields are int32; the Pulumi wire format carries numbers as doubles.
MAX_COUNT = 2**31 - 1
STORAGE_CLASS_FORM = (
    "a Kubernetes object name (DNS-1123 subdomain): lower-case letters, digits, '-' and '.', "
    "starting and ending with a letter or digit, at most 253 characters"
)
_SUBDOMAIN_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z", re.ASCII)
_WHOLE_RE = re.compile(r"^[0-9]{1,30}\Z", re.ASCII)
_DECIMAL_RE = re.compile(r"^([0-9]{1,30}(\.[0-9]{1,30})?|\.[0-9]{1,30})\Z", re.ASCII)


def _as_text(value: Any) -> Any:
    # YAML turns a bare 2 or 0.5 into a number; quantities are compared as text.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _checked(parser: Any) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            parser(None)  # raises with the accepted form
        parser(value)
        return value.strip()

    return check


def whole_number(low: int, high: int, why: str = "") -> Any:
    """A validator for an integer from ``low`` to ``high``, written with ASCII digits (YAML number or text)."""
    form = f"a whole number from {low} to {high}{why}"

    def check(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _WHOLE_RE.match(value.strip()):
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise ValueError(f"not a whole number; accepted form: {form}")
        if not low <= number <= high:
            raise ValueError(f"out of range; accepted form: {form}")
        return number

    return check


def decimal_number(low: Decimal, high: Decimal, *, low_inclusive: bool = False) -> Any:
    """A validator for a decimal number in a range, written with ASCII digits (YAML number or text)."""
    form = f"a number {'from' if low_inclusive else 'above'} {low} {'to' if low_inclusive else 'and at most'} {high}"

    def check(value: Any) -> Decimal:
        text = str(value).strip() if isinstance(value, (int, float, str)) and not isinstance(value, bool) else ""
        if not _DECIMAL_RE.match(text):
            raise ValueError(f"not a number; accepted form: {form}")
        number = Decimal(text)
        if number < low or (number == low and not low_inclusive) or number > high:
            raise ValueError(f"out of range; accepted form: {form}")
        return number

    return check


def _image(value: Any) -> Any:
    if not isinstance(value, str) or not _IMAGE_RE.match(value):
        raise ValueError(f"not a pinned image; accepted form: {IMAGE_FORM}")
    if _IMAGE_RE.match(value).group("tag") == "latest":  # type: ignore[union-attr]
        raise ValueError(f"'latest' is not a pinned tag; accepted form: {IMAGE_FORM}")
    return value


def _storage_class(value: Any) -> Any:
    # StorageClass names are DNS-1123 subdomains (k8s.io/apimachinery IsDNS1123Subdomain).
    if not isinstance(value, str) or not _SUBDOMAIN_RE.match(value):
        raise ValueError(f"not a storage class name; accepted form: {STORAGE_CLASS_FORM}")
    return value


Duration = Annotated[str, BeforeValidator(_checked(units.duration_seconds))]
# Where the receiving program takes zero as "at once" (Alertmanager's group_wait).
ZeroOrDuration = Annotated[str, BeforeValidator(_checked(units.zero_or_duration_seconds))]
Quantity = Annotated[str, BeforeValidator(_as_text), AfterValidator(_checked(units.quantity_bytes))]
Cpu = Annotated[str, BeforeValidator(_as_text), AfterValidator(_checked(units.cpu_cores))]
ByteSize = Annotated[str, BeforeValidator(_checked(units.byte_size_bytes))]
Percent = Annotated[Decimal, BeforeValidator(units.percent_fraction)]
Image = Annotated[str, AfterValidator(_image)]
Count = Annotated[int, BeforeValidator(whole_number(1, MAX_COUNT))]
Replicas = Annotated[int, BeforeValidator(whole_number(1, MAX_REPLICAS, " (each replica claims its own volume and resources)"))]
StorageClassName = Annotated[str, BeforeValidator(_storage_class)]


def _object_name(value: Any) -> Any:
    if not isinstance(value, str) or not _SUBDOMAIN_RE.match(value):
        raise ValueError(f"not a Kubernetes object name; accepted form: {STORAGE_CLASS_FORM.split(': ', 1)[1]}")
    return value


# Names of Secrets, IngressClasses and most other objects (k8s.io/apimachinery IsDNS1123Subdomain).
ObjectName = Annotated[str, BeforeValidator(_object_name)]

_Text = TypeVar("_Text", str, str | None)


def matching(pattern: re.Pattern[str], what: str, form: str) -> Callable[[_Text], _Text]:
    """A field validator: the value unchanged when ``pattern`` matches it (None, an unset optional field,
    passes), else ValueError "not <what>; accepted form: <form>" (the loader adds the key and the value)."""

    def check(value: _Text) -> _Text:
        if value is not None and not pattern.match(value):
            raise ValueError(f"not {what}; accepted form: {form}")
        return value

    return check


# Label and annotation keys share one syntax: an optional DNS-subdomain prefix and '/', then a name
# (k8s.io/apimachinery IsQualifiedName).
QUALIFIED_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z", re.ASCII)

DNS_LABEL_FORM = "a DNS-1123 label: lower-case letters, digits and '-', starting with a letter, at most 63 characters"
DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z", re.ASCII)


# Names of namespaces, clusters and service targets.
DnsLabel = Annotated[str, AfterValidator(matching(DNS_LABEL_RE, "a valid name", DNS_LABEL_FORM))]
# An http(s) URL with a host and an optional path: Grafana's URLs and the runbook base URL.
HTTP_URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?\Z", re.ASCII)


def http_url(form: str) -> Callable[[str], str]:
    """A field validator: an http(s) URL (see ``matching``), without its trailing '/' (links are joined to it)."""
    check = matching(HTTP_URL_RE, "a URL", form)
    return lambda value: check(value).rstrip("/")


class Section(BaseModel):
    """Base of every settings model: camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )


class ComputeAmount(Section):
    cpu: Cpu
    memory: Quantity


class Resources(Section):
    """Requests and limits of one container; both are always required (platform_checks.py compares them)."""

    requests: ComputeAmount
    limits: ComputeAmount

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.requests.cpu, "memory": self.requests.memory},
            "limits": {"cpu": self.limits.cpu, "memory": self.limits.memory},
        }


class Storage(Section):
    """A persistent volume: its size and, when not the cluster default, its class."""

    size: Quantity
    storage_class: StorageClassName | None = None

    @property
    def size_bytes(self) -> Decimal:
        return units.quantity_bytes(self.size)


class Workload(Section):
    """What every workload section has: a pinned image, replicas and resources."""

    image: Image
    replicas: Replicas = 1
    resources: Resources
