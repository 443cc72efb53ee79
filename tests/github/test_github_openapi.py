"""The GitHub API double's contract: extracted from GitHub's OpenAPI description, and able to refuse."""

from __future__ import annotations

import pytest

from tekton_dag.testing.github_openapi import answer_problems, contract, generate


def test_the_committed_extract_matches_the_installed_openapi_description() -> None:
    if not generate.DEFAULT_SPEC.is_file():
        pytest.skip(f"{generate.PACKAGE} not installed (scripts/install-tools installs it)")
    assert generate.render(generate.DEFAULT_SPEC) == generate.OUTPUT.read_text(), "run github_openapi/generate.py"


def test_answers_that_break_the_description_are_caught() -> None:
    operation, _, _ = contract().match("POST", "/repos/o/r/check-runs")
    assert operation is not None
    problems = answer_problems(operation, 201, {"id": "not a number"})
    assert problems and "answer 201" in problems[0]


def test_a_wrong_method_or_unknown_path_matches_nothing() -> None:
    assert contract().match("DELETE", "/repos/o/r/check-runs")[0] is None
    assert contract().match("POST", "/repos/o/r/check-runz")[0] is None
