"""Deterministic, DNS-1123 PipelineRun names."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from runcreator.conftest import bootstrap_request, merge_request, pr_request
from tekton_dag.pipelineruns.naming import label_value, run_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_the_same_request_gets_the_same_readable_name() -> None:
    assert run_name(pr_request()) == run_name(pr_request(delivery="a-github-redelivery"))
    assert run_name(pr_request()).startswith("stack-one-demo-fe-pr42-")


def test_what_makes_a_request_unique_changes_the_name() -> None:
    names = {
        run_name(pr_request()), run_name(pr_request(sha="c" * 40)), run_name(pr_request(number=43)),
        run_name(pr_request(app="demo-api")), run_name(replace(pr_request(), team="other")),
        run_name(merge_request()), run_name(merge_request(sha="d" * 40)),
        run_name(bootstrap_request()), run_name(bootstrap_request(delivery="b-2")),
    }
    assert len(names) == 9


def test_manual_requests_are_named_by_their_delivery_id() -> None:
    manual = replace(pr_request(), requested_by="api")
    assert run_name(manual) != run_name(replace(manual, delivery="d-2"))


@given(stack=st.text(min_size=1, max_size=120), app=st.text(max_size=120), delivery=st.text(min_size=1, max_size=80))
def test_names_are_dns_labels_of_at_most_63_characters(stack: str, app: str, delivery: str) -> None:
    name = run_name(replace(bootstrap_request(delivery=delivery), stack=stack, app=app))
    assert len(name) <= 63 and DNS_LABEL.match(name)


@given(value=st.text(min_size=1, max_size=100))
def test_label_values_are_valid_and_keep_distinct_inputs_apart(value: str) -> None:
    cleaned = label_value(value)
    assert len(cleaned) <= 63 and re.match(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", cleaned)
    assert label_value("feature/x") != label_value("feature-x")
