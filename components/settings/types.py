"""Field types shared by every settings section.

Values keep the form the operator wrote (``7d``, ``20Gi``) so rendered objects
read like the config that produced them; the parsers in ``units`` check them
and give the numbers the cross-field checks need.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

from components.settings import units

IMAGE_FORM = "registry/repository:tag with a fixed tag that is not 'latest' (e.g. quay.io/prometheus/pushgateway:v1.11.0), optionally @sha256:digest"
_IMAGE_RE = re.compile(r"^(?P<repo>[a-z0-9][a-z0-9._/-]*(?::\d+)?(?:/[a-z0-9._-]+)*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(?:@sha256:[a-f0-9]{64})?$")


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


def _image(value: Any) -> Any:
    if not isinstance(value, str) or not _IMAGE_RE.match(value):
        raise ValueError(f"not a pinned image; accepted form: {IMAGE_FORM}")
    if _IMAGE_RE.match(value).group("tag") == "latest":  # type: ignore[union-attr]
        raise ValueError(f"'latest' is not a pinned tag; accepted form: {IMAGE_FORM}")
    return value


Duration = Annotated[str, BeforeValidator(_checked(units.duration_seconds))]
Quantity = Annotated[str, BeforeValidator(_as_text), AfterValidator(_checked(units.quantity_bytes))]
Cpu = Annotated[str, BeforeValidator(_as_text), AfterValidator(_checked(units.cpu_cores))]
ByteSize = Annotated[str, BeforeValidator(_checked(units.byte_size_bytes))]
Percent = Annotated[Decimal, BeforeValidator(units.percent_fraction)]
Image = Annotated[str, AfterValidator(_image)]


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
    """Requests and limits of one container; both are always required (checks.py compares them)."""

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
    storage_class: str | None = None

    @property
    def size_bytes(self) -> Decimal:
        return units.quantity_bytes(self.size)


class Workload(Section):
    """What every workload section has: a pinned image, replicas and resources."""

    image: Image
    replicas: Annotated[int, AfterValidator(lambda n: _at_least_one(n))] = 1
    resources: Resources


def _at_least_one(number: int) -> int:
    if number < 1:
        raise ValueError("replicas must be at least 1; accepted form: a whole number of 1 or more")
    return number
