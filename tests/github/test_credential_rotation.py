"""Rotating the App's key and the plain token: the client reads their mounted files again when they
change, through the real client and the GitHub API double over HTTP (the double accepts JWTs of every
key the App holds and refuses a deleted key's, as GitHub does). The clients are closed after each test
(tests/github/conftest.py)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from support.githubapi import OTHER, PLAIN_TOKEN, REPO, env_client, environment
from tekton_dag.github.client import Client
from tekton_dag.github.port import CheckOutput, GitHubError, Repo
from tekton_dag.testing.github_api import GitHubApiDouble

SHA = "b" * 40
UNPARSABLE = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"  # PEM-shaped, no key
NEW_TOKEN = "ghp_rotatedtokenfortests"


def rotated(path: Path, text: str) -> None:
    """Replace ``path`` as the kubelet updates a mounted Secret: a new file swapped in (a new inode)."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    os.replace(fresh, path)


def rotated_to_a_new_app_key(github: GitHubApiDouble, env: dict[str, str]) -> str:
    """The App gets a second key on GitHub and the Secret holds it now; returns the key it replaced."""
    old = github.private_key_pem
    rotated(Path(env["GITHUB_APP_PRIVATE_KEY_FILE"]), github.add_app_key())
    return old


async def status(client: Client) -> None:
    await client.set_commit_status(REPO, SHA, state="pending", context="tekton-dag / web (hello)",
                                   description="queued", target_url="https://dashboard.example/run/x")


async def check(client: Client, repo: Repo = REPO) -> None:
    await client.create_check_run(repo, name="tekton-dag / web (hello)", head_sha=SHA, external_id="x",
                                  status="queued", conclusion=None,
                                  output=CheckOutput("Queued", "waiting"))


async def test_a_rotated_token_file_is_used_from_the_next_call(github: GitHubApiDouble, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tekton_dag.github.auth")
    env = environment(github, tmp_path, app=False, token=PLAIN_TOKEN)
    client = env_client(env)
    await status(client)
    github.plain_tokens = {NEW_TOKEN}  # the old token revoked on GitHub, the new one issued
    rotated(Path(env["GITHUB_TOKEN_FILE"]), NEW_TOKEN + "\n")
    await status(client)  # was: 401 Bad credentials until a new pod read the file
    assert [c.identity for c in github.calls] == [f"token:{PLAIN_TOKEN[:6]}", f"token:{NEW_TOKEN[:6]}"]
    assert [c.status for c in github.calls] == [201, 201]
    assert "GITHUB_TOKEN_FILE" in caplog.text and NEW_TOKEN not in caplog.text and PLAIN_TOKEN not in caplog.text


async def test_an_app_key_rotated_as_github_advises_signs_the_next_jwt(github: GitHubApiDouble,
                                                                      tmp_path: Path) -> None:
    """Generate a second key, deploy it, delete the first: no call fails on the way."""
    github.token_ttl_s = 200  # every call fetches an installation token, so signs a JWT
    env = environment(github, tmp_path)
    client = env_client(env)
    await check(client)
    old = rotated_to_a_new_app_key(github, env)
    await check(client)
    github.delete_app_key(old)
    await check(client)  # was: 401, the deleted key still signing
    tokens = github.calls_to("apps/create-installation-access-token")
    assert [c.status for c in tokens] == [201, 201, 201]
    assert [c.status for c in github.calls_to("checks/create")] == [201, 201, 201]


def encrypted_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"secret")).decode()


def ec_key() -> str:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.mark.parametrize("bad", ["not a key at all", UNPARSABLE, "", "encrypted", "ec"])
async def test_a_key_file_that_turns_unusable_leaves_the_last_good_key_in_use(
        github: GitHubApiDouble, tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str) -> None:
    """Not PEM, a PEM that does not parse, empty (a Secret half written), encrypted, or a key
    GitHub's RS256 JWTs cannot be signed with: reports go on with the key that worked, and the log
    says so once, without the file's content, and never that the new key is in use."""
    bad = {"encrypted": encrypted_key, "ec": ec_key}.get(bad, lambda: bad)()
    caplog.set_level(logging.INFO, logger="tekton_dag.github.auth")
    github.token_ttl_s = 200
    env = environment(github, tmp_path)
    client = env_client(env)
    await check(client)
    rotated(Path(env["GITHUB_APP_PRIVATE_KEY_FILE"]), bad)
    await check(client)
    await check(client)
    assert [c.status for c in github.calls_to("apps/create-installation-access-token")] == [201, 201, 201]
    said = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert all("GITHUB_APP_PRIVATE_KEY_FILE" in r.getMessage() for r in said)
    assert "changed; using the new one" not in caplog.text  # the operator must not delete the old key yet
    assert github.private_key_pem not in caplog.text and (not bad or bad.strip() not in caplog.text)


async def test_a_new_key_is_parsed_and_said_to_be_in_use_at_the_next_call_of_any_kind(
        github: GitHubApiDouble, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An installation token lasts an hour: the new key must not wait for the next JWT to be read,
    since an operator waits for "using the new one" before deleting the old key on GitHub."""
    caplog.set_level(logging.INFO, logger="tekton_dag.github.auth")
    env = environment(github, tmp_path)
    client = env_client(env)
    await check(client)
    old = rotated_to_a_new_app_key(github, env)
    await check(client)  # the cached installation token: no JWT signed
    assert len(github.calls_to("apps/create-installation-access-token")) == 1
    for _ in range(100):  # the parse runs in a thread
        if "changed; using the new one" in caplog.text:
            break
        await asyncio.sleep(0.02)
    assert "GITHUB_APP_PRIVATE_KEY_FILE" in caplog.text and "changed; using the new one" in caplog.text
    github.delete_app_key(old)
    await check(client, OTHER)  # another installation: a token fetched with a JWT of the new key
    assert [c.status for c in github.calls_to("apps/create-installation-access-token")] == [201, 201]


async def test_a_deleted_key_file_leaves_the_last_good_key_in_use(github: GitHubApiDouble, tmp_path: Path) -> None:
    github.token_ttl_s = 200
    env = environment(github, tmp_path)
    client = env_client(env)
    await check(client)
    Path(env["GITHUB_APP_PRIVATE_KEY_FILE"]).unlink()
    await check(client)
    assert [c.status for c in github.calls_to("checks/create")] == [201, 201]


async def test_without_any_key_that_ever_worked_an_unusable_key_fails_every_app_call(
        github: GitHubApiDouble, tmp_path: Path) -> None:
    env = environment(github, tmp_path)
    Path(env["GITHUB_APP_PRIVATE_KEY_FILE"]).write_text(UNPARSABLE)
    client = env_client(env)
    with pytest.raises(GitHubError, match="the GitHub App's private key cannot be used"):
        await check(client)
    assert github.calls == []


def test_the_double_holds_at_most_25_app_keys_and_keeps_the_last(github: GitHubApiDouble) -> None:
    keys = [github.private_key_pem] + [github.add_app_key() for _ in range(24)]
    with pytest.raises(ValueError, match="25 private keys"):
        github.add_app_key()
    for pem in keys[:-1]:
        github.delete_app_key(pem)
    with pytest.raises(ValueError, match="at least one"):
        github.delete_app_key(keys[-1])
