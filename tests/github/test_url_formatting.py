"""The client's URL formatting answers exactly as gidgethub's ``sansio.format_url`` (which it skips on
the hot path: github.client.format_url), for every template the client and the delivery listing use."""

from __future__ import annotations

from gidgethub import sansio
from hypothesis import given
from hypothesis import strategies as st

from tekton_dag.github.client import format_url

TEMPLATES = (
    "/repos/{owner}/{repo}/check-runs",
    "/repos/{owner}/{repo}/check-runs/{check_run_id}",
    "/repos/{owner}/{repo}/statuses/{sha}",
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/collaborators/{username}/permission",
    "/repos/{owner}/{repo}/pulls/{pull_number}",
    "/app/installations/{installation_id}/access_tokens",
    "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries{?per_page}",  # not simple: gidgethub's own path
    "https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_123",  # a Link header's next page
)
BASES = ("https://api.github.com", "https://ghe.example.com/api/v3/", "http://127.0.0.1:8080")
VALUE = st.one_of(st.text(max_size=12), st.integers(min_value=0, max_value=2**53))


@given(template=st.sampled_from(TEMPLATES), base=st.sampled_from(BASES),
       values=st.fixed_dictionaries({}, optional={name: VALUE for name in (
           "owner", "repo", "check_run_id", "sha", "issue_number", "username", "pull_number",
           "installation_id", "hook_id", "per_page")}))
def test_same_url_as_gidgethub(template: str, base: str, values: dict[str, object]) -> None:
    names = [part.split("}")[0] for part in template.split("{")[1:]]
    variables = {name: values.get(name, "x") for name in names if not name.startswith("?")}
    if "{?per_page}" in template:
        variables["per_page"] = values.get("per_page", 100)
    assert format_url(template, variables, base) == sansio.format_url(template, variables, base_url=base)
