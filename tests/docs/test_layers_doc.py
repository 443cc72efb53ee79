"""The layers of tekton_dag are written in three places; they say the same rows in the same order.

``.importlinter`` is the one that is enforced (``scripts/check``); the package docstring and the
architecture doc are what people read, so they must not drift from it.
"""

from __future__ import annotations

import configparser
import re

import tekton_dag
from support.helm import REPO

ARCHITECTURE = REPO / "docs" / "architecture.md"


def contract_rows() -> list[set[str]]:
    config = configparser.ConfigParser()
    config.read(REPO / ".importlinter")
    lines = config["importlinter:contract:layers"]["layers"].strip().splitlines()
    return [{name.strip().strip("()") for name in line.split("|")} for line in lines]


def named(text: str, packages: set[str]) -> set[str]:
    return {name for name in re.findall(r"`+([a-z_]+)`+", text) if name in packages}


def test_the_package_docstring_lists_the_contract_rows_in_order() -> None:
    rows = contract_rows()
    packages = set().union(*rows)
    items = re.split(r"^\d+\. ", tekton_dag.__doc__ or "", flags=re.MULTILINE)[1:]
    assert [named(item, packages) for item in items] == rows


def test_the_architecture_doc_lists_the_contract_rows_in_order() -> None:
    rows = contract_rows()
    packages = set().union(*rows)
    section = ARCHITECTURE.read_text().split("## Components and their folders", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [named(line.split("|")[2], packages) for line in table] == rows
