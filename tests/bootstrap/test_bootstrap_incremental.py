"""Planning a 40-app bootstrap against a real registry: selective, incremental, forced, registry
down, registry with auth. Images are pushed through the Registry API; nothing is faked."""

from __future__ import annotations

import pytest

from tekton_dag.bootstrap import planning
from tekton_dag.bootstrap.selection import BootstrapRejected
from tekton_dag.events.requests import BootstrapRequest
from tekton_dag.oci.client import RegistryClient
from tekton_dag.oci.credentials import parse_config
from tekton_dag.testing.registry import Registry, unreachable_host
from tekton_dag.usecases.bootstrapping import plan_bootstrap

TEAM, STACK = "commerce", "shop"  # the 40-app example team


def request(tag: str, **fields) -> BootstrapRequest:  # type: ignore[no-untyped-def]
    return BootstrapRequest(team=TEAM, delivery="d-1", stack=STACK, image_tag=tag, **fields)


def app_names(config) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.name for a in config.team(TEAM).stack(STACK).apps]


async def test_selective_bootstrap_plans_only_the_two_requested_apps(registry: Registry, teams_for, tag: str) -> None:
    _, config = teams_for(registry.host)
    async with RegistryClient() as client:
        plan = await plan_bootstrap(config, request(tag, apps=("checkout-api", "storefront-web")), client)
    [shop] = plan.stacks
    assert [d.app for d in shop.decisions] == ["storefront-web", "checkout-api"]
    assert shop.build_apps == ("checkout-api", "storefront-web")  # the callee first
    assert shop.waves == (("checkout-api",), ("storefront-web",))
    assert {d.reason for d in shop.decisions} == {planning.REASON_MISSING}


async def test_incremental_twenty_present_twenty_planned(registry: Registry, teams_for, tag: str) -> None:
    _, config = teams_for(registry.host)
    names = app_names(config)
    present = names[::2]
    registry.push_images(present, tag)
    async with RegistryClient() as client:
        plan = await plan_bootstrap(config, request(tag), client)
    [shop] = plan.stacks
    assert len(shop.decisions) == 40
    assert sorted(d.app for d in shop.skipped) == sorted(present)
    assert all(d.reason == planning.REASON_EXISTS and d.detail.startswith("found (sha256:") for d in shop.skipped)
    assert sorted(shop.build_apps) == sorted(set(names) - set(present))
    assert all(d.reason == planning.REASON_MISSING for d in shop.built)
    assert shop.skipped[0].image == f"{registry.host}/{shop.skipped[0].app}:{tag}"


async def test_force_rebuild_plans_every_app_even_when_present(registry: Registry, teams_for, tag: str) -> None:
    _, config = teams_for(registry.host)
    registry.push_images(app_names(config)[:5], tag)
    async with RegistryClient() as client:
        plan = await plan_bootstrap(config, request(tag, force_rebuild=True), client)
    assert len(plan.stacks[0].build_apps) == 40
    assert {d.reason for d in plan.stacks[0].decisions} == {planning.REASON_FORCED}


async def test_registry_down_builds_everything_and_says_why(teams_for, tag: str) -> None:
    down = unreachable_host()
    _, config = teams_for(down)
    async with RegistryClient(timeout=2) as client:
        plan = await plan_bootstrap(config, request(tag), client)
    [shop] = plan.stacks
    assert len(shop.build_apps) == 40 and shop.skipped == ()
    assert {d.reason for d in shop.built} == {planning.REASON_UNKNOWN}
    assert all(f"registry {down} unreachable" in d.detail for d in shop.built)


@pytest.mark.parametrize("auth_fixture", ["basic_registry", "token_registry"])
async def test_registries_requiring_auth(auth_fixture: str, request_fixture, teams_for, tag: str) -> None:  # type: ignore[no-untyped-def]
    secured: Registry = request_fixture.getfixturevalue(auth_fixture)
    _, config = teams_for(secured.host)
    names = app_names(config)
    secured.push_images(names[:10], tag)
    async with RegistryClient(parse_config(secured.docker_config(), "test")) as client:
        with_credentials = await plan_bootstrap(config, request(tag), client)
    async with RegistryClient() as client:
        anonymous = await plan_bootstrap(config, request(tag), client)
    assert sorted(d.app for d in with_credentials.stacks[0].skipped) == sorted(names[:10])
    assert len(with_credentials.stacks[0].build_apps) == 30
    # Without credentials nothing can be confirmed: all 40 are built, with the reason.
    assert len(anonymous.stacks[0].build_apps) == 40
    assert {d.reason for d in anonymous.stacks[0].built} == {planning.REASON_UNKNOWN}


async def test_unknown_app_is_rejected_before_any_registry_request(teams_for, tag: str) -> None:
    _, config = teams_for(unreachable_host())
    async with RegistryClient() as client:
        with pytest.raises(BootstrapRejected, match="unknown app 'nope'"):
            await plan_bootstrap(config, request(tag, apps=("checkout-api", "nope")), client)


async def test_a_bad_image_tag_is_rejected(teams_for) -> None:
    _, config = teams_for(unreachable_host())
    async with RegistryClient() as client:
        with pytest.raises(BootstrapRejected, match="not a valid tag"):
            await plan_bootstrap(config, request("bad tag"), client)


async def test_default_tag_is_bootstrap(registry: Registry, teams_for) -> None:
    _, config = teams_for(registry.host)
    async with RegistryClient() as client:
        plan = await plan_bootstrap(config, request("", apps=("payment-api",)), client)
    assert plan.image_tag == planning.DEFAULT_IMAGE_TAG == "bootstrap"
    assert plan.stacks[0].decisions[0].image == f"{registry.host}/payment-api:bootstrap"
