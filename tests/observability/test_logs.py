"""``observability.logs``: the arguments of tekton_dag's log records cannot start a line of their own."""

from __future__ import annotations

import logging

import pytest

from tekton_dag.observability import logs


@pytest.fixture(autouse=True)
def escaping():
    before = logging.getLogRecordFactory()
    logs.install()
    logs.install()  # once per process, however often it is called
    yield
    logging.setLogRecordFactory(before)


def message(name: str, template: str, *args: object) -> str:
    return logging.getLogger(name).makeRecord(name, logging.INFO, __file__, 1, template, args, None).getMessage()


def test_string_arguments_have_their_line_breaks_escaped_and_the_template_keeps_its_own() -> None:
    assert message("tekton_dag.resolver", "event %s\nrefused: %s", "e-1\nINFO:forged", "a\u2028b\x1b[31m") == (
        "event e-1\\nINFO:forged\nrefused: a\\u2028b\\x1b[31m")


def test_other_arguments_keep_their_formats_and_their_text_is_escaped() -> None:
    error = ValueError("bad\nline")
    assert message("tekton_dag.kube", "%d runs, %.1f s, %r, %s", 3, 1.25, error, error) == (
        "3 runs, 1.2 s, ValueError('bad\\nline'), bad\\nline")
    assert message("tekton_dag.kube", "%(id)s", {"id": "x\ny"}) == "x\\ny"


def test_other_libraries_records_are_left_as_they_are() -> None:
    assert message("httpx", "%s", "a\nb") == "a\nb"
