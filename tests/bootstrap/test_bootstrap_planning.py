"""Selection, decisions and waves: the pure half of bootstrap planning, on the 40-app example team."""

from __future__ import annotations

from pathlib import Path

import pytest

from tekton_dag.bootstrap import planning
from tekton_dag.bootstrap.planning import BootstrapPlan
from tekton_dag.bootstrap.selection import BootstrapRejected, Selection, find_team, select
from tekton_dag.config import graph
from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.config.models import Config, Team
from tekton_dag.oci.client import Presence, PresenceCheck
from tekton_dag.oci.references import image_ref

ROOT = Path(__file__).resolve().parents[2] / "teams"


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config_or_raise(ROOT)


@pytest.fixture(scope="module")
def commerce(config: Config) -> Team:
    return find_team(config, "commerce")


def test_the_example_team_has_forty_apps(commerce: Team) -> None:
    assert len(commerce.stack("shop").apps) == 40


def test_without_apps_every_app_of_every_stack_is_selected(commerce: Team) -> None:
    [selection] = select(commerce)
    assert selection.apps == tuple(a.name for a in commerce.stack("shop").apps)


def test_requested_apps_are_selected_in_file_order_without_duplicates(commerce: Team) -> None:
    [selection] = select(commerce, "shop", ["payment-api", "checkout-api", "payment-api"])
    assert selection.apps == ("checkout-api", "payment-api")


def test_unknown_apps_reject_the_request_naming_each_one(commerce: Team) -> None:
    with pytest.raises(BootstrapRejected) as rejected:
        select(commerce, "shop", ["checkout-api", "no-such-api", "ghost-web"])
    assert rejected.value.unknown_apps == ("no-such-api", "ghost-web")
    assert "'no-such-api'" in str(rejected.value) and "'ghost-web'" in str(rejected.value)
    assert "stack 'shop'" in str(rejected.value)


@pytest.mark.parametrize(("team", "stack", "expected"), [
    ("nobody", "", "unknown team 'nobody' (teams: commerce, default)"),
    ("commerce", "warehouse", "team 'commerce' has no stack 'warehouse' (stacks: shop)"),
])
def test_unknown_team_or_stack_is_rejected_with_what_exists(
    config: Config, team: str, stack: str, expected: str
) -> None:
    with pytest.raises(BootstrapRejected, match=expected.replace("(", r"\(").replace(")", r"\)")):
        select(find_team(config, team), stack)


def _images(team: Team, selections: list[Selection], tag: str) -> dict[str, str]:
    return {app: str(image_ref(team.image_registry, app, tag)) for s in selections for app in s.apps}


def _checks(team: Team, tag: str, presence: dict[str, Presence]) -> dict[str, PresenceCheck]:
    checks = {}
    for app, answer in presence.items():
        ref = image_ref(team.image_registry, app, tag)
        checks[app] = PresenceCheck(ref, answer, f"registry said {answer.value}")
    return checks


def _plan(
    team: Team, selections: list[Selection], checks: dict[str, PresenceCheck], force: bool = False
) -> BootstrapPlan:
    """The plan at tag v1; ``oci.client.PresenceCheck`` stands for the registry's answers."""
    return planning.make_plan(team, selections, "v1", _images(team, selections, "v1"), checks, force)


@pytest.mark.parametrize(("answer", "force", "build", "reason"), [
    (Presence.PRESENT, False, False, planning.REASON_EXISTS),
    (Presence.ABSENT, False, True, planning.REASON_MISSING),
    (Presence.UNKNOWN, False, True, planning.REASON_UNKNOWN),
    (Presence.PRESENT, True, True, planning.REASON_FORCED),
], ids=["present is skipped", "absent is built", "unknown is built, never skipped blindly", "forced is built"])
def test_each_registry_answer_decides(commerce: Team, answer: Presence, force: bool, build: bool, reason: str) -> None:
    selections = select(commerce, "shop", ["payment-api"])
    plan = _plan(commerce, selections, _checks(commerce, "v1", {"payment-api": answer}), force)
    [decision] = plan.stacks[0].decisions
    assert (decision.build, decision.reason) == (build, reason)
    assert decision.image == "registry.commerce.example:5000/payment-api:v1"
    assert decision.detail == f"registry said {answer.value}"


def test_an_app_never_checked_is_built(commerce: Team) -> None:
    plan = _plan(commerce, select(commerce, "shop", ["payment-api"]), {})
    assert plan.stacks[0].build_apps == ("payment-api",)
    assert plan.stacks[0].decisions[0].detail == "not checked"


def _reaches(team: Team, caller: str, callee: str) -> bool:
    return callee in graph.downstream_of(team.stack("shop"), caller)


def test_waves_build_every_app_after_the_apps_it_calls(commerce: Team) -> None:
    stack = commerce.stack("shop")
    plan = _plan(commerce, select(commerce), {}, force=True)
    waves = plan.stacks[0].waves
    wave_of = {app: i for i, wave in enumerate(waves) for app in wave}
    assert sorted(wave_of) == sorted(a.name for a in stack.apps)
    assert len(waves) > 3  # the example is several calls deep
    for app in stack.apps:
        for callee in graph.downstream_of(stack, app.name):
            assert wave_of[callee] < wave_of[app.name], f"{callee} must be built before {app.name}"
    assert plan.stacks[0].build_apps == tuple(a for w in waves for a in w)


def test_skipped_apps_leave_the_waves_but_order_stays(commerce: Team) -> None:
    stack = commerce.stack("shop")
    names = [a.name for a in stack.apps]
    present = {name: Presence.PRESENT for name in names[::2]}
    absent = {name: Presence.ABSENT for name in names[1::2]}
    plan = _plan(commerce, select(commerce), _checks(commerce, "v1", {**present, **absent}))
    [shop] = plan.stacks
    assert sorted(shop.build_apps) == sorted(absent)
    assert sorted(d.app for d in shop.skipped) == sorted(present)
    position = {app: i for i, app in enumerate(shop.build_apps)}
    for caller in shop.build_apps:
        for callee in shop.build_apps:
            if _reaches(commerce, caller, callee):
                assert position[callee] < position[caller]


def test_nothing_to_build_means_no_stack_to_run(commerce: Team) -> None:
    names = [a.name for a in commerce.stack("shop").apps]
    plan = _plan(commerce, select(commerce),
                 _checks(commerce, "v1", {n: Presence.PRESENT for n in names}))
    assert plan.to_build == ()
    assert len(plan.stacks[0].skipped) == 40
