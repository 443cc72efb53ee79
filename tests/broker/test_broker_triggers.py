"""Trigger manifests: filters evaluated as Knative does, invalid manifests refused with file and field."""

from __future__ import annotations

import textwrap

import pytest

from support.broker import broker_yaml, trigger_yaml, write_manifests
from tekton_dag.bus.delivery import DeliverySpec, parse_duration
from tekton_dag.bus.triggers import KNATIVE_DEFAULT_DELIVERY, ManifestError, load_topology

PR = {"type": "dev.tektondag.github.pull_request.v1", "source": "/tekton-dag/webhook-ingest", "team": "default"}

FILTER_CASES = {
    "attributes exact match": ("filter:\n  attributes: {type: dev.tektondag.github.pull_request.v1}\n", True),
    "attributes are case-sensitive": ("filter:\n  attributes: {type: dev.tektondag.GitHub.pull_request.v1}\n", False),
    "attributes are ANDed": (
        "filter:\n  attributes: {type: dev.tektondag.github.pull_request.v1, team: other}\n",
        False,
    ),
    "an empty attribute value matches anything": ("filter:\n  attributes: {team: ''}\n", True),
    # ... that is set: knative/eventing pkg/eventfilter/attributes/filter.go fails an attribute the
    # event lacks, or has empty, even for the empty ("any") value.
    "an empty attribute value needs the attribute": ("filter:\n  attributes: {subject: ''}\n", False),
    "no filter matches everything": ("", True),
    "exact": ("filters:\n- exact: {team: default}\n", True),
    "exact on a missing attribute": ("filters:\n- exact: {subject: x}\n", False),
    "prefix": ("filters:\n- prefix: {type: dev.tektondag.github.}\n", True),
    "suffix": ("filters:\n- suffix: {type: .push.v1}\n", False),
    "all": ("filters:\n- all: [{prefix: {type: dev.}}, {exact: {team: default}}]\n", True),
    "any": ("filters:\n- any: [{exact: {team: a}}, {exact: {team: default}}]\n", True),
    "not": ("filters:\n- not: {exact: {team: default}}\n", False),
    "filters are ANDed": ("filters:\n- prefix: {type: dev.}\n- exact: {team: b}\n", False),
    "filters win over filter": ("filter:\n  attributes: {team: nobody}\nfilters:\n- exact: {team: default}\n", True),
    # ... unless the list is empty: Knative's filter applies spec.filter then (filter_handler.go
    # filterEvent, len(trigger.Spec.Filters) > 0).
    "an empty filters list leaves filter": ("filter:\n  attributes: {team: nobody}\nfilters: []\n", False),
    # Several attributes in one exact / prefix / suffix map are ANDed (pkg/eventfilter/subscriptionsapi
    # exact_filter.go etc.), and Knative's webhook admits them (knative/eventing#6477).
    "exact with two attributes": ("filters:\n- exact: {team: default, source: /tekton-dag/webhook-ingest}\n", True),
    "exact with two attributes, one off": ("filters:\n- exact: {team: default, source: /other}\n", False),
    "prefix with two attributes": ("filters:\n- prefix: {type: dev.tektondag., source: /tekton-dag/}\n", True),
    "suffix with two attributes, one missing": ("filters:\n- suffix: {type: .v1, subject: x}\n", False),
    # An empty dialect is none (trigger_validation.go hasMultipleDialects): the other one counts.
    "an empty dialect beside another": ("filters:\n- exact: {}\n  prefix: {type: dev.}\n", True),
}


@pytest.mark.parametrize("filter_yaml, expected", FILTER_CASES.values(), ids=FILTER_CASES.keys())
def test_filters_match_like_knative(tmp_path, filter_yaml, expected):
    topology = load_topology(write_manifests(tmp_path, trigger_yaml("t", "s", filter_yaml)))
    assert topology.triggers[0].matches(PR) is expected


def test_the_type_index_offers_every_trigger_that_matches_and_in_manifest_order(tmp_path):
    """The Broker tests only ``candidates(type)``; every filter case above, on one topology,
    must give exactly what testing every Trigger gives, for events of several types."""
    docs = [trigger_yaml(f"t{i}", "s", filter_yaml) for i, (filter_yaml, _) in enumerate(FILTER_CASES.values())]
    docs.append(trigger_yaml("push", "s", "filter:\n  attributes: {type: dev.tektondag.github.push.v1}\n"))
    topology = load_topology(write_manifests(tmp_path, *docs))
    events = [PR, {**PR, "type": "dev.tektondag.github.push.v1"}, {**PR, "team": "b"}, {**PR, "type": "other"},
              {**PR, "type": "dev.tektondag.GitHub.pull_request.v1"}]
    for attributes in events:
        everything = [t.name for t in topology.triggers if t.matches(attributes)]
        assert [t.name for t in topology.candidates(attributes["type"]) if t.matches(attributes)] == everything
    assert {t.name for t in topology.candidates("other")}.isdisjoint({"t0", "t1", "t2", "push"})


INVALID_CASES = {
    "cesql": ("filters:\n- cesql: \"type = 'x'\"\n", "spec.filters[0].cesql", "CESQL"),
    "unknown dialect": ("filters:\n- regex: {type: x}\n", "spec.filters[0]", "exactly one of"),
    # Knative's webhook refuses two dialects in one expression, with this message (ValidateOneOf).
    "two dialects": ("filters:\n- exact: {type: a}\n  prefix: {team: b}\n", "spec.filters[0]",
                     "multiple dialects found, filters can have only one dialect set"),
    "two dialects, nested": ("filters:\n- not: {any: [{exact: {a: b}}], suffix: {a: b}}\n", "spec.filters[0].not",
                             "multiple dialects found"),
    # Knative admits these but its filter skips the expression (subscriptionsapi/create.go): they
    # would match every event, so the local Broker refuses them, saying so.
    "empty prefix": ("filters:\n- prefix: {type: ''}\n", "spec.filters[0].prefix.type", "non-empty"),
    "an empty value among others": ("filters:\n- exact: {type: a, team: ''}\n", "spec.filters[0].exact.team",
                                    "match every event"),
    "no dialect": ("filters:\n- exact: {}\n", "spec.filters[0]", "match every event"),
    "an empty all": ("filters:\n- all: []\n", "spec.filters[0]", "match every event"),
    "nested error": ("filters:\n- all: [{not: {cesql: x}}]\n", "spec.filters[0].all[0].not.cesql", "CESQL"),
    "non-string attribute": ("filter:\n  attributes: {retries: 3}\n", "spec.filter.attributes.retries", "string"),
    # Knative's webhook: attribute names ^[a-z][a-z0-9]*$ (pkg/apis/eventing/v1/trigger_validation.go
    # ValidateAttributesNames), in spec.filter.attributes and in exact / prefix / suffix.
    "attribute name in upper case": ("filter:\n  attributes: {Type: x}\n", "spec.filter.attributes.Type",
                                     "lowercase"),
    "attribute name with a dash": ("filters:\n- prefix: {event-type: x}\n", "spec.filters[0].prefix.event-type",
                                   "lowercase"),
    "attribute name starting with a digit": ("filters:\n- any: [{exact: {1type: x}}]\n",
                                             "spec.filters[0].any[0].exact.1type", "lowercase"),
    "bad backoff policy": ("delivery:\n  backoffPolicy: random\n", "spec.delivery.backoffPolicy", "linear"),
    "bad backoff delay": ("delivery:\n  backoffDelay: 2s\n", "spec.delivery.backoffDelay", "ISO-8601"),
    "negative retry": ("delivery:\n  retry: -1\n", "spec.delivery.retry", ">= 0"),
}


@pytest.mark.parametrize("block, field, words", INVALID_CASES.values(), ids=INVALID_CASES.keys())
def test_an_invalid_trigger_is_refused_naming_file_and_field(tmp_path, block, field, words):
    directory = write_manifests(tmp_path, broker_yaml(), trigger_yaml("resolver-github-push", "resolver", block))
    with pytest.raises(ManifestError) as caught:
        load_topology(directory)
    message = str(caught.value)
    assert str(directory / "eventing.yaml") in message and "Trigger resolver-github-push" in message
    assert field in message and words in message


def test_a_trigger_without_subscriber_is_refused(tmp_path):
    doc = "apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t}\nspec: {broker: tekton-dag}\n"
    with pytest.raises(ManifestError, match=r"Trigger t: spec.subscriber: is required"):
        load_topology(write_manifests(tmp_path, doc))


def test_duplicate_trigger_names_are_refused(tmp_path):
    with pytest.raises(ManifestError, match=r"metadata.name: is used by another Trigger"):
        load_topology(write_manifests(tmp_path, trigger_yaml("t", "a"), trigger_yaml("t", "b")))


def test_broken_yaml_names_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("kind: Trigger\n  spec: [\n")
    with pytest.raises(ManifestError, match=r"bad.yaml: YAML"):
        load_topology(tmp_path)


def test_other_kinds_and_other_brokers_are_ignored(tmp_path):
    service = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: resolver}\n"
    other = trigger_yaml("x", "s").replace("broker: tekton-dag", "broker: other")
    topology = load_topology(write_manifests(tmp_path, service, other, trigger_yaml("t", "s")))
    assert [t.name for t in topology.triggers] == ["t"]
    assert topology.delivery == KNATIVE_DEFAULT_DELIVERY  # no Broker document: Knative's default


DLS = "deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dead-letters}}\n"


@pytest.mark.parametrize(("trigger_delivery", "expected"), [
    (None, (5, 2.0, "dead-letters")),  # no spec of its own: the Broker's, whole (exponential PT1S)
    ("retry: 1\n", (1, 0.0, "dead-letters")),  # its own, whole: no backoff set, so none
    ("retry: 9\nbackoffPolicy: linear\nbackoffDelay: PT2S\n", (9, 2.0, "dead-letters")),
    ("retry: 9\nbackoffDelay: PT2S\n", (9, 0.0, "dead-letters")),  # a delay without a policy: no backoff
    ("deadLetterSink: {uri: 'http://own/'}\n", (0, 0.0, "http://own/")),  # only a sink: no retry at all
], ids=["none", "retry only", "full", "delay without policy", "sink only"])
def test_a_trigger_delivery_replaces_the_brokers_except_its_dead_letter_sink(tmp_path, trigger_delivery, expected):
    """As the MT channel-based Broker: the Subscription takes the Trigger's delivery whole, else the
    Broker's (knative/eventing pkg/reconciler/broker/trigger/trigger.go; subscription.go deliverySpec),
    and without a sink of its own the channel's, the Broker's (resolveDeadLetterSink). It was merged
    field by field here: a Trigger's `retry: 1` waited the Broker's PT1S, which Knative does not."""
    broker = broker_yaml("retry: 5\nbackoffPolicy: exponential\nbackoffDelay: PT1S\n" + DLS)
    extra = "" if trigger_delivery is None else "delivery:\n" + textwrap.indent(trigger_delivery, "  ")
    topology = load_topology(write_manifests(tmp_path, broker, trigger_yaml("t", "s", "", extra)))
    spec = topology.triggers[0].delivery_with(topology.delivery)
    assert spec.dead_letter_sink is not None
    sink = spec.dead_letter_sink.ref_name or spec.dead_letter_sink.uri
    assert (spec.retry, spec.backoff(1), sink) == expected  # backoff(1): the wait before the second retry


def test_a_broker_delivery_is_taken_whole_too(tmp_path):
    """Knative's webhook defaults only a Broker without spec.delivery (broker_defaults.go)."""
    topology = load_topology(write_manifests(tmp_path, broker_yaml("retry: 3\n")))
    assert (topology.delivery.retry, topology.delivery.backoff(0)) == (3, 0.0)


@pytest.mark.parametrize(
    "text, seconds", [("PT0.2S", 0.2), ("PT1M30S", 90), ("PT2H", 7200), ("P1D", 86400), ("P1DT1S", 86401)]
)
def test_iso8601_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "1S", "PT1", "P1Y", "P1W", "PT\u0661S"])  # last: an Arabic-Indic 1
def test_malformed_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_backoff_policies():
    linear = DeliverySpec(retry=3, backoff_policy="linear", backoff_delay_s=0.5)
    exponential = DeliverySpec(retry=3, backoff_policy="exponential", backoff_delay_s=0.5)
    assert [linear.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]
    assert [exponential.backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert linear.attempts() == 4
    # Index 0 is the wait before the first retry (go-retryablehttp's loop index): Knative's linear
    # policy retries at once, its exponential one waits the delay itself.
    assert (linear.backoff(0), exponential.backoff(0)) == (0.0, 0.5)


def test_a_subscriber_without_a_url_is_a_startup_error(tmp_path):
    from tekton_dag.bus.broker import LocalBroker, UnresolvedDestination

    topology = load_topology(write_manifests(tmp_path, trigger_yaml("resolver-github-push", "resolver")))
    with pytest.raises(UnresolvedDestination, match=r"Trigger resolver-github-push .*Service/resolver"):
        LocalBroker(topology, {"run-creator": "http://127.0.0.1:1/"}, tmp_path / "dl.jsonl")
