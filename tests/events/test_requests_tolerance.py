"""Request data: strict for people (the REST API), tolerant between functions (rolling updates)."""

from __future__ import annotations

import pytest

from tekton_dag.events.requests import BootstrapRequest, CancelRequest, RequestError, RunRequest

RUN = {"team": "t", "stack": "s", "pipeline": "stack-pr-test", "delivery": "d", "app": "a",
       "pr": {"number": 3, "head_sha": "abc"}}
CANCEL = {"team": "t", "stack": "s", "app": "a", "pr_number": 3, "reason": "closed", "delivery": "d"}
BOOTSTRAP = {"team": "t", "delivery": "d", "apps": ["a"]}


@pytest.mark.parametrize(("kind", "data"), [(RunRequest, RUN), (CancelRequest, CANCEL), (BootstrapRequest, BOOTSTRAP)])
def test_an_unknown_field_is_an_error_when_strict_and_ignored_otherwise(kind: type, data: dict) -> None:
    with pytest.raises(RequestError, match=r"^newer: unknown field$"):
        kind.from_data({**data, "newer": 1})
    assert kind.from_data({**data, "newer": 1}, strict=False) == kind.from_data(data)


def test_a_nested_unknown_field_is_named_with_its_path_and_tolerated_when_not_strict() -> None:
    with pytest.raises(RequestError, match=r"^pr\.title: unknown field$"):
        RunRequest.from_data({**RUN, "pr": {**RUN["pr"], "title": "x"}})
    assert RunRequest.from_data({**RUN, "pr": {**RUN["pr"], "title": "x"}}, strict=False).pr.number == 3


def test_tolerance_does_not_relax_types_or_required_fields() -> None:
    with pytest.raises(RequestError, match=r"^team: required$"):
        RunRequest.from_data({**RUN, "team": ""}, strict=False)
    with pytest.raises(RequestError, match=r"^pr_number: must be an integer$"):
        CancelRequest.from_data({**CANCEL, "pr_number": "3"}, strict=False)
