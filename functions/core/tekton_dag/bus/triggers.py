"""Trigger and Broker manifests (the files in ``knative/``) read into filters and destinations.

Every YAML document of ``kind: Trigger`` (``eventing.knative.dev/v1``) in the directory is a
subscription; the ``kind: Broker`` document of the same name gives the default DeliverySpec.
Other kinds (Services, SinkBindings) are ignored, so the directory a cluster applies is the one
the local Broker reads. Filters follow Knative: ``spec.filter.attributes`` is an exact,
case-sensitive AND of attributes (an empty value matches any the event has set); ``spec.filters`` holds the
CloudEvents Subscriptions API dialects ``exact``, ``prefix``, ``suffix`` (each any number of
attributes, ANDed), ``all``, ``any`` and ``not``, ANDed, and wins over ``spec.filter`` when both
are set and it is not empty. ``cesql`` is refused: no Python evaluator exists, and the project's
Triggers do not use it. What Knative's webhook admits but its filter skips (an expression without
a dialect, an empty value) is refused too: in a cluster it would match every event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from tekton_dag.bus.delivery import (
    DeliverySpec,
    DeliverySpecError,
    Destination,
    parse_delivery,
    parse_destination,
)

Attributes = Mapping[str, str]
Filter = Callable[[Attributes], bool]

EVENTING_API = "eventing.knative.dev/v1"
# Knative's cluster default (config-br-defaults) for a Broker without spec.delivery.
KNATIVE_DEFAULT_DELIVERY = DeliverySpec(retry=10, backoff_policy="exponential", backoff_delay_s=0.2)
_DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
# Knative's webhook refuses any other attribute name in a filter (knative/eventing
# pkg/apis/eventing/v1/trigger_validation.go validAttributeName, ValidateAttributesNames).
_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9]*")


class ManifestError(ValueError):
    """A Trigger or Broker manifest the local Broker cannot honour, naming file and field."""

    def __init__(self, path: Path | str, what: str, field: str, message: str):
        super().__init__(f"{path}: {what}: {field}: {message}")
        self.path, self.field = str(path), field


@dataclass(frozen=True)
class Trigger:
    name: str
    broker: str
    subscriber: Destination
    matches: Filter
    delivery: DeliverySpec | None = None
    source_file: str = ""
    exact_type: str | None = None  # the ``type`` its filter requires (None: it may match any type)

    def delivery_with(self, broker_default: DeliverySpec) -> DeliverySpec:
        """How the Broker's channel delivers this Trigger's events: the Trigger's own spec, when it
        has one, in place of the Broker's, not merged with it (knative/eventing
        pkg/reconciler/broker/trigger/trigger.go: the Subscription gets the Trigger's delivery, else
        the Broker's; pkg/reconciler/subscription/subscription.go ``deliverySpec``: its retry,
        backoff and timeout, unset ones left unset), but with the Broker's dead-letter sink when it
        names none (``resolveDeadLetterSink`` falls back to the channel's)."""
        if self.delivery is None:
            return broker_default
        own = self.delivery
        return replace(own, dead_letter_sink=own.dead_letter_sink or broker_default.dead_letter_sink)


@dataclass(frozen=True)
class Topology:
    """What the local Broker needs: its name, its default delivery, its Triggers and its namespace."""

    broker: str
    delivery: DeliverySpec
    triggers: tuple[Trigger, ...]
    namespace: str = "tekton-dag"  # knative/broker.yaml's

    @property
    def ingress_path(self) -> str:
        """The path of the Broker's address on Knative's ingress, ``/<namespace>/<broker>``
        (knative/eventing pkg/broker/ingress/ingress_handler.go reads the Broker from it)."""
        return f"/{self.namespace}/{self.broker}"

    def candidates(self, event_type: str) -> tuple[Trigger, ...]:
        """The Triggers whose filter can match an event of ``event_type``, in manifest order:
        those that require exactly that type and those that require no type. Each still has to
        ``matches`` the event; this only spares testing every Trigger's filter per event."""
        return self._by_type.get(event_type, self._any_type)

    @cached_property
    def _any_type(self) -> tuple[Trigger, ...]:
        return tuple(t for t in self.triggers if t.exact_type is None)

    @cached_property
    def _by_type(self) -> dict[str, tuple[Trigger, ...]]:
        types = {t.exact_type for t in self.triggers if t.exact_type is not None}
        return {kind: tuple(t for t in self.triggers if t.exact_type in (None, kind)) for kind in types}


class _FilterError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _check_name(name: Any, path: str) -> None:
    if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
        raise _FilterError(f"{path}.{name}", "an attribute name must start with a letter and can only contain "
                           "lowercase alphanumeric (Knative's webhook refuses it)")


def _attribute_map(raw: Any, path: str) -> dict[str, str]:
    """An ``exact``/``prefix``/``suffix`` map: any number of attributes, ANDed (knative/eventing
    pkg/eventfilter/subscriptionsapi/exact_filter.go etc.; the webhook checks only their names since
    knative/eventing#6477, pkg/apis/eventing/v1/trigger_validation.go ``ValidateSubscriptionAPIFilter``).
    An empty value is refused here though Knative's webhook admits it: its filter then refuses the
    whole map (``NewExactFilter``: "attribute and value can't be empty") and skips the expression
    (subscriptionsapi/create.go ``MaterializeFiltersList``), so the Trigger would take events it
    was written to keep out."""
    if not isinstance(raw, dict):
        raise _FilterError(path, "must map attributes to values")
    for name, value in raw.items():
        _check_name(name, path)
        if not isinstance(value, str) or not value:
            raise _FilterError(f"{path}.{name}", "must be a non-empty string (Knative's filter skips the whole "
                               "expression for an empty one: it would match every event)")
    return dict(raw)


def _dialects(raw: dict[str, Any]) -> list[str]:
    """The dialects an expression sets, as Knative counts them (trigger_validation.go
    ``hasMultipleDialects``): an empty map or list, or an empty ``cesql``, is none; ``not`` is one
    whenever it is there."""
    return [d for d in _DIALECTS if d in raw and (raw[d] is not None if d == "not" else bool(raw[d]))]


def compile_dialect(raw: Any, path: str) -> Filter:
    """One Subscriptions API filter expression (an element of ``spec.filters``)."""
    if not isinstance(raw, dict) or set(raw) - set(_DIALECTS):
        raise _FilterError(path, f"must have exactly one of {', '.join(_DIALECTS)}")
    dialects = _dialects(raw)
    if len(dialects) > 1:  # Knative's webhook message (ValidateOneOf)
        raise _FilterError(path, "multiple dialects found, filters can have only one dialect set")
    if not dialects:
        # Knative's webhook admits it, and its filter skips it (create.go): it would match every event.
        raise _FilterError(path, f"must set one of {', '.join(_DIALECTS)} (Knative skips an expression "
                           "without one: it would match every event)")
    dialect = dialects[0]
    body = raw[dialect]
    here = f"{path}.{dialect}"
    if dialect == "cesql":
        raise _FilterError(here, "CESQL filters are not supported by the local Broker; use exact/prefix/suffix")
    if dialect in ("exact", "prefix", "suffix"):
        wanted = tuple(_attribute_map(body, here).items())
        tests: dict[str, Callable[[str, str], bool]] = {
            "exact": lambda have, want: have == want,
            "prefix": lambda have, want: have.startswith(want),
            "suffix": lambda have, want: have.endswith(want),
        }
        test = tests[dialect]
        return lambda attrs: all(name in attrs and test(attrs[name], value) for name, value in wanted)
    if dialect == "not":
        inner = compile_dialect(body, here)
        return lambda attrs: not inner(attrs)
    if not isinstance(body, list):
        raise _FilterError(here, "must be a non-empty list of filters")
    parts = [compile_dialect(item, f"{here}[{i}]") for i, item in enumerate(body)]
    combine = all if dialect == "all" else any
    return lambda attrs: combine(part(attrs) for part in parts)


def compile_attributes(raw: Any, path: str) -> Filter:
    """``spec.filter.attributes``: exact matches ANDed; an empty value matches any value the event
    has, but not a missing or empty one (knative/eventing pkg/eventfilter/attributes/filter.go)."""
    if not isinstance(raw, dict):
        raise _FilterError(path, "must be a mapping of attribute to value")
    for name, value in raw.items():
        _check_name(name, path)
        if not isinstance(value, str):
            raise _FilterError(f"{path}.{name}", "must be a string")
    wanted = dict(raw)
    return lambda attrs: all(attrs.get(k) == v if v else bool(attrs.get(k)) for k, v in wanted.items())


def required_type(spec: Mapping[str, Any]) -> str | None:
    """The event type a (valid) Trigger spec's filter requires exactly, if it requires one: the
    ``type`` of ``spec.filter.attributes`` when there is no ``spec.filters`` (which wins)."""
    if spec.get("filters"):
        return None
    attributes = (spec.get("filter") or {}).get("attributes") or {}
    return attributes.get("type") or None


def compile_trigger_filter(spec: Mapping[str, Any]) -> Filter:
    filters = spec.get("filters")
    # An empty list is no filters: Knative's filter then applies spec.filter (pkg/broker/filter/
    # filter_handler.go filterEvent: ``len(trigger.Spec.Filters) > 0``).
    if filters is not None and filters != []:
        if not isinstance(filters, list):
            raise _FilterError("spec.filters", "must be a list")
        parts = [compile_dialect(item, f"spec.filters[{i}]") for i, item in enumerate(filters)]
        return lambda attrs: all(part(attrs) for part in parts)
    legacy = spec.get("filter")
    if legacy is None:
        return lambda attrs: True
    if not isinstance(legacy, dict):
        raise _FilterError("spec.filter", "must be a mapping")
    return compile_attributes(legacy.get("attributes") or {}, "spec.filter.attributes")


def parse_trigger(doc: Mapping[str, Any], path: Path) -> Trigger:
    name = (doc.get("metadata") or {}).get("name")
    what = f"Trigger {name}" if name else "Trigger"
    try:
        if not isinstance(name, str) or not name:
            raise _FilterError("metadata.name", "is required")
        if doc.get("apiVersion") != EVENTING_API:
            raise _FilterError("apiVersion", f"must be {EVENTING_API}")
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            raise _FilterError("spec", "is required")
        broker = spec.get("broker")
        if not isinstance(broker, str) or not broker:
            raise _FilterError("spec.broker", "is required")
        if "subscriber" not in spec:
            raise _FilterError("spec.subscriber", "is required")
        subscriber = parse_destination(spec["subscriber"], "spec.subscriber")
        matches = compile_trigger_filter(spec)
        delivery = parse_delivery(spec.get("delivery"), "spec.delivery")
    except (_FilterError, DeliverySpecError) as exc:
        message = str(exc).split(": ", 1)[-1] if isinstance(exc, DeliverySpecError) else str(exc)
        raise ManifestError(path, what, exc.field, message) from None
    return Trigger(name, broker, subscriber, matches, delivery, str(path), required_type(spec))


def parse_broker_delivery(doc: Mapping[str, Any], path: Path) -> DeliverySpec:
    spec = doc.get("spec") or {}
    try:
        delivery = parse_delivery(spec.get("delivery"), "spec.delivery")
    except DeliverySpecError as exc:
        raise ManifestError(path, f"Broker {doc['metadata']['name']}", exc.field, str(exc).split(": ", 1)[-1]) from None
    # Knative's webhook gives a Broker without spec.delivery the cluster's default, whole
    # (pkg/apis/eventing/v1/broker_defaults.go BrokerSpec.SetDefaults); one with it keeps its own.
    return KNATIVE_DEFAULT_DELIVERY if delivery is None else delivery


def read_documents(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every mapping document in ``directory/*.yaml`` (and ``.yml``), in file-name order."""
    if not directory.is_dir():
        raise ManifestError(directory, "manifests", "directory", "does not exist")
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise ManifestError(path, "YAML", "document", str(exc).replace("\n", " ")) from None
        found.extend((path, doc) for doc in docs if isinstance(doc, dict))
    return found


def load_topology(directory: Path | str, broker: str = "tekton-dag") -> Topology:
    """The Triggers of ``broker`` in ``directory`` and the Broker's delivery settings.

    Raises ``ManifestError`` for the first invalid Trigger or Broker, naming file and field,
    and when two Triggers share a name.
    """
    delivery = KNATIVE_DEFAULT_DELIVERY
    namespace = Topology.namespace
    triggers: dict[str, Trigger] = {}
    for path, doc in read_documents(Path(directory)):
        kind = doc.get("kind")
        if kind == "Broker" and (doc.get("metadata") or {}).get("name") == broker:
            delivery = parse_broker_delivery(doc, path)
            namespace = str(doc["metadata"].get("namespace") or namespace)
        elif kind == "Trigger":
            trigger = parse_trigger(doc, path)
            if trigger.name in triggers:
                raise ManifestError(path, f"Trigger {trigger.name}", "metadata.name", "is used by another Trigger")
            if trigger.broker == broker:
                triggers[trigger.name] = trigger
    return Topology(broker, delivery, tuple(triggers.values()), namespace)
