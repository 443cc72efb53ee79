"""A started GitHub API double for each test (``github``); the clients a test made are closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from support.githubapi import clients_closed, started_double
from tekton_dag.testing.github_api import GitHubApiDouble


@pytest.fixture
def github() -> Iterator[GitHubApiDouble]:
    yield from started_double()


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    async for _ in clients_closed():
        yield
