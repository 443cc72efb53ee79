"""A started GitHub API double for each test (``github``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.githubapi import started_double
from tekton_dag.testing.github_api import GitHubApiDouble


@pytest.fixture
def github() -> Iterator[GitHubApiDouble]:
    yield from started_double()
