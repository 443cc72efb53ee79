"""The registry client against a real Distribution registry (Debian docker-registry), and its rules."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest

from tekton_dag.oci.client import ACCEPT, Presence, RegistryClient
from tekton_dag.oci.credentials import CredentialsError, load_credentials, parse_config
from tekton_dag.oci.references import ImageRef, ReferenceError, image_ref, scheme_for
from tekton_dag.pipelines import image_registry_problem, registry_host_and_path
from tekton_dag.testing.registry import DOCKER_MANIFEST, OCI_MANIFEST, Registry, unreachable_host


@pytest.mark.parametrize(("host", "scheme"), [
    ("localhost:5000", "http"), ("localhost", "http"), ("127.0.0.1:5000", "http"), ("127.0.0.2", "http"),
    ("[::1]:5000", "http"), ("registry.local", "http"), ("kind-registry:5000", "http"),
    ("registry.example.com", "https"), ("registry.example.com:5000", "https"), ("ghcr.io", "https"),
    ("docker.io", "https"), ("10.0.0.5:5000", "https"),
])
def test_localhost_style_registries_use_http_others_https(host: str, scheme: str) -> None:
    assert scheme_for(host) == scheme


def test_insecure_registries_can_be_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEKTON_DAG_INSECURE_REGISTRIES", "registry.lab.example:5000, other.example")
    assert scheme_for("registry.lab.example:5000") == "http"
    assert scheme_for("other.example") == "http"
    assert scheme_for("registry.example.com") == "https"


@pytest.mark.parametrize(("registry", "url"), [
    ("localhost:5000", "http://localhost:5000/v2/checkout-api/manifests/v1"),
    ("registry.example.com/team-a/", "https://registry.example.com/v2/team-a/checkout-api/manifests/v1"),
    ("acme", "https://registry-1.docker.io/v2/acme/checkout-api/manifests/v1"),
])
def test_image_names_are_registry_slash_app_colon_tag(registry: str, url: str) -> None:
    assert image_ref(registry, "checkout-api", "v1").manifest_url == url


@pytest.mark.parametrize(("registry", "parts"), [
    ("localhost", ("localhost", "")), ("localhost:5000/ci", ("localhost:5000", "ci")),
    (" registry.example.com/team-a/ ", ("registry.example.com", "team-a")), ("[::1]:5000", ("[::1]:5000", "")),
    ("acme", ("", "acme")), ("acme/team", ("", "acme/team")), ("", ("", "")), ("/", ("", "")),
])
def test_a_registry_is_a_host_when_its_first_part_has_a_dot_or_colon_or_is_localhost(
    registry: str, parts: tuple[str, str]
) -> None:
    assert registry_host_and_path(registry) == parts


@pytest.mark.parametrize("registry", ["", "  ", "/"])
def test_an_empty_registry_is_refused_by_the_registry_rules(registry: str) -> None:
    assert image_registry_problem(registry) == "is empty"
    with pytest.raises(ReferenceError, match="is empty"):
        image_ref(registry, "checkout-api", "v1")


@pytest.mark.parametrize("tag", ["", "-dash-first", "has space", "x" * 129])
def test_bad_tags_are_refused(tag: str) -> None:
    with pytest.raises(ReferenceError):
        image_ref("localhost:5000", "app", tag)


def test_credentials_come_from_docker_config_forms(tmp_path) -> None:  # type: ignore[no-untyped-def]
    auth = base64.b64encode(b"alice:pw1").decode()
    document = {"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "registry.example.com": {"username": "bob", "password": "pw2"},
        "helper-only.example": {"identitytoken": "opaque"},
    }}
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(document))
    store = load_credentials({"REGISTRY_AUTH_FILE": str(path)})
    assert (store.for_host("docker.io").username, store.for_host("docker.io").password) == ("alice", "pw1")
    assert store.for_host("registry.example.com").username == "bob"
    assert store.for_host("helper-only.example") is None
    assert "pw2" not in repr(store)
    env_store = load_credentials({"TEKTON_DAG_REGISTRY_AUTH": json.dumps(document), "REGISTRY_AUTH_FILE": "/nope"})
    assert env_store.for_host("registry.example.com").password == "pw2"
    assert load_credentials({"HOME": str(tmp_path)}).by_host == {}


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"),
    ('{"auths": []}', "'auths' must be an object"),
    ('{"auths": {"r.example": {"auth": "%%%"}}}', "auths.r.example.auth: not base64"),
])
def test_broken_credentials_say_where(text: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        parse_config(text, "creds.json")


async def test_present_and_absent_images_in_oci_and_docker_formats(registry: Registry, tag: str) -> None:
    oci_digest = registry.push_image("app-oci", tag, OCI_MANIFEST)
    registry.push_image("app-docker", tag, DOCKER_MANIFEST)
    async with RegistryClient() as client:
        found = await client.presence_of_all(
            image_ref(registry.host, app, tag) for app in ("app-oci", "app-docker", "app-none"))
        other_tag = await client.presence(image_ref(registry.host, "app-oci", tag + "-other"))
    answers = {ref.repository: check for ref, check in found.items()}
    assert answers["app-oci"].presence is Presence.PRESENT
    assert answers["app-oci"].reason == f"found ({oci_digest})"
    assert answers["app-docker"].presence is Presence.PRESENT
    assert answers["app-none"].presence is Presence.ABSENT  # unknown repository
    assert other_tag.presence is Presence.ABSENT  # known repository, unknown tag


async def test_head_requests_ask_for_every_manifest_type(registry: Registry, tag: str) -> None:
    seen = []

    async def record(request: httpx.Request) -> None:
        seen.append((request.method, request.headers.get("accept")))

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http, RegistryClient(client=http) as client:
        await client.presence(image_ref(registry.host, "anything", tag))
    assert seen == [("HEAD", ACCEPT)]
    for media_type in ("oci.image.index", "oci.image.manifest", "manifest.list.v2", "distribution.manifest.v2"):
        assert media_type in ACCEPT


@pytest.mark.parametrize(("registry", "said"), [
    ("localhost:50x0", "is not a registry host[:port]"), ("localhost:99999", "port 99999 is not between 1 and 65535"),
    ("registry.example.com/Team-A", "is not a repository path"), ("[::1", "is not a registry host"),
])
def test_a_registry_no_url_can_name_is_refused_before_any_request(registry: str, said: str) -> None:
    with pytest.raises(ReferenceError, match=re.escape(said)):
        image_ref(registry, "checkout-api", "v1")


async def test_an_address_httpx_cannot_use_is_unknown_not_an_exception() -> None:
    # A reference built without image_ref (its checks are the first line): the client's own.
    async with RegistryClient(timeout=2) as client:
        check = await client.presence(ImageRef("localhost:50x0", "app", "v1"))
    assert check.presence is Presence.UNKNOWN and "not a usable address" in check.reason


async def test_a_registry_that_is_down_gives_unknown_not_absent() -> None:
    async with RegistryClient(timeout=2) as client:
        check = await client.presence(image_ref(unreachable_host(), "app", "v1"))
    assert check.presence is Presence.UNKNOWN
    assert "unreachable: ConnectError" in check.reason


async def test_basic_auth_with_credentials_finds_images(basic_registry: Registry, tag: str) -> None:
    basic_registry.push_image("secured", tag)
    credentials = parse_config(basic_registry.docker_config(), "test")
    async with RegistryClient(credentials) as client:
        present = await client.presence(image_ref(basic_registry.host, "secured", tag))
        absent = await client.presence(image_ref(basic_registry.host, "secured", tag + "x"))
    assert (present.presence, absent.presence) == (Presence.PRESENT, Presence.ABSENT)


async def test_basic_auth_without_or_with_wrong_credentials_is_unknown(basic_registry: Registry, tag: str) -> None:
    basic_registry.push_image("secured", tag)
    wrong = parse_config(json.dumps({"auths": {basic_registry.host: {"username": "tester", "password": "no"}}}), "t")
    async with RegistryClient() as anonymous, RegistryClient(wrong) as refused:
        none = await anonymous.presence(image_ref(basic_registry.host, "secured", tag))
        bad = await refused.presence(image_ref(basic_registry.host, "secured", tag))
    assert none.presence is Presence.UNKNOWN and "requires credentials" in none.reason
    assert bad.presence is Presence.UNKNOWN and "refused the credentials (401)" in bad.reason


async def test_bearer_token_auth_fetches_tokens_once_per_repository(token_registry: Registry, tag: str) -> None:
    apps = [f"svc-{i}" for i in range(6)]
    for app in apps[:3]:
        token_registry.push_image(app, tag)
    token_server = token_registry.token_server
    before = len(token_server.requests)
    credentials = parse_config(token_registry.docker_config(), "test")
    heads = []

    async def record(request: httpx.Request) -> None:
        if request.method == "HEAD":
            heads.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http, \
            RegistryClient(credentials, client=http, concurrency=1) as client:
        found = await client.presence_of_all(image_ref(token_registry.host, app, tag) for app in apps)
        again = await client.presence(image_ref(token_registry.host, apps[0], tag))
    assert [c.presence for c in found.values()] == [Presence.PRESENT] * 3 + [Presence.ABSENT] * 3
    assert again.presence is Presence.PRESENT
    requests = token_server.requests[before:]
    assert all(r["authorized"] for r in requests)  # basic credentials sent to the realm
    assert sorted(r["query"]["scope"][0] for r in requests) == sorted(f"repository:{a}:pull" for a in apps)
    assert len(heads) == len(apps) + 2  # one 401 to learn the challenge, then one HEAD each (+1 cached)


async def test_bearer_token_refused_for_anonymous_is_unknown(token_registry: Registry, tag: str) -> None:
    token_registry.push_image("private", tag)
    async with RegistryClient() as client:
        check = await client.presence(image_ref(token_registry.host, "private", tag))
    assert check.presence is Presence.UNKNOWN
    assert "refused anonymous access (401)" in check.reason


async def test_concurrent_heads_are_bounded(registry: Registry, tag: str) -> None:
    in_flight = peak = 0

    class Counting(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                response = await super().handle_async_request(request)
                await response.aread()
                return response
            finally:
                in_flight -= 1

    async with httpx.AsyncClient(transport=Counting()) as http, RegistryClient(client=http, concurrency=4) as client:
        checks = await client.presence_of_all(image_ref(registry.host, f"bounded-{i}", tag) for i in range(40))
    assert len(checks) == 40
    assert 1 < peak <= 4


@pytest.mark.parametrize(("status", "headers", "reason"), [
    (500, {}, "answered 500 unexpectedly"),
    (503, {}, "answered 503 unexpectedly"),
    (429, {}, "rate limiting (429)"),
    (403, {}, "denied access (403)"),
    (401, {}, "401 without an authentication challenge"),
    (401, {"www-authenticate": 'Negotiate realm="x"'}, "unsupported auth scheme 'negotiate'"),
    (401, {"www-authenticate": 'Bearer service="s"'}, "Bearer challenge without a realm"),
], ids=["500", "503", "429", "403", "401 without challenge", "unknown scheme", "bearer without realm"])
async def test_unexpected_answers_are_unknown_with_the_reason(status: int, headers: dict, reason: str) -> None:
    # Distribution cannot be made to answer these on demand: a double answering only this status.
    transport = httpx.MockTransport(lambda request: httpx.Response(status, headers=headers))
    async with httpx.AsyncClient(transport=transport) as http, RegistryClient(client=http) as client:
        check = await client.presence(image_ref("registry.example.com", "app", "v1"))
    assert check.presence is Presence.UNKNOWN
    assert reason in check.reason


async def test_a_registry_that_hangs_times_out_as_unknown() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        async with RegistryClient(timeout=0.3) as client:
            check = await client.presence(image_ref(host, "app", "v1"))
    assert check.presence is Presence.UNKNOWN
    assert "unreachable: ReadTimeout" in check.reason
