"""Realistic, correctly signed GitHub webhook deliveries, for ``tekton-dag send``, demos and tests.

The bodies carry the fields GitHub sends for each event (repository, sender, pull_request with
head/base, push commits, ping's hook) with consistent URLs, ids and timestamps; the headers are
GitHub's: ``X-GitHub-Event``, ``X-GitHub-Delivery`` (a UUID), ``X-GitHub-Hook-ID``, ``User-Agent``
and ``X-Hub-Signature-256`` over the exact body bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tekton_dag.webhooks.signatures import sign

KINDS = ("pull_request.opened", "pull_request.synchronize", "pull_request.closed-merged", "push", "ping")
API = "https://api.github.com"
WEB = "https://github.com"


@dataclass(frozen=True)
class Delivery:
    """One webhook request exactly as GitHub would send it."""

    event: str
    headers: dict[str, str]
    body: bytes

    @property
    def delivery_id(self) -> str:
        return self.headers["X-GitHub-Delivery"]


@dataclass(frozen=True)
class Sample:
    """What to put in the webhook. ``sha`` defaults to one derived from repo, branch and number."""

    kind: str
    repo: str
    number: int = 1
    branch: str = "feature/demo"
    base: str = "main"
    sha: str = ""
    sender: str = "octocat"
    title: str = "Demo change"
    installation: int = 0  # a GitHub App's webhook from this installation (0: a repository webhook)

    def head_sha(self) -> str:
        return self.sha or hashlib.sha1(f"{self.repo}#{self.number}@{self.branch}".encode()).hexdigest()


def build(sample: Sample, secret: str, delivery_id: str | None = None) -> Delivery:
    """The signed delivery for ``sample``; ``delivery_id`` defaults to a fresh UUID."""
    body = json.dumps(payload(sample), indent=2).encode()
    return signed(sample.kind.split(".")[0], body, secret, delivery_id, sample.repo, app=bool(sample.installation))


def payload(sample: Sample) -> dict[str, Any]:
    """The JSON document ``build`` sends for ``sample`` (its kind and repository checked first)."""
    if sample.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {sample.kind!r}")
    if sample.repo.count("/") != 1 or not all(sample.repo.split("/")):
        raise ValueError(f"repo must be owner/name, not {sample.repo!r}")
    event = sample.kind.split(".")[0]
    document = {"pull_request": _pull_request_event, "push": _push_event, "ping": _ping_event}[event](sample)
    if sample.installation:  # what an App's deliveries add (docs.github.com webhook payloads: `installation`)
        document["installation"] = {"id": sample.installation, "node_id": f"MDIzOkludGVncmF0aW9u{sample.installation}"}
    return document


def signed(event: str, body: bytes, secret: str, delivery_id: str | None = None, repo: str = "",
           app: bool = False) -> Delivery:
    """``body`` (sent byte for byte: GitHub signs the raw body) with the headers GitHub would send
    for ``event`` from a repository webhook (``app``: from a GitHub App's); ``delivery_id``
    defaults to a fresh UUID."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/tekton-dag-send",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "424242",
        "X-GitHub-Hook-Installation-Target-Type": "integration" if app else "repository",
        "X-GitHub-Hook-Installation-Target-ID": str(_id("app" if app else repo)),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return Delivery(event, headers, body)


def _id(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user(login: str) -> dict[str, Any]:
    return {
        "login": login, "id": _id(login), "node_id": f"U_{_id(login)}", "type": "User", "site_admin": False,
        "avatar_url": f"https://avatars.githubusercontent.com/u/{_id(login)}?v=4",
        "url": f"{API}/users/{login}", "html_url": f"{WEB}/{login}",
    }


def _repository(full_name: str, default_branch: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": _id(full_name), "node_id": f"R_{_id(full_name)}", "name": name, "full_name": full_name,
        "private": False, "owner": _user(owner), "html_url": f"{WEB}/{full_name}", "description": None,
        "fork": False, "url": f"{API}/repos/{full_name}", "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git", "clone_url": f"{WEB}/{full_name}.git",
        "default_branch": default_branch, "visibility": "public", "archived": False, "disabled": False,
    }


def _branch(sample: Sample, ref: str, sha: str, repo: dict[str, Any]) -> dict[str, Any]:
    owner = sample.repo.split("/")[0]
    return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "user": repo["owner"], "repo": repo}


def _pull_request_event(sample: Sample) -> dict[str, Any]:
    repo = _repository(sample.repo, sample.base)
    merged = sample.kind == "pull_request.closed-merged"
    now = _now()
    url = f"{API}/repos/{sample.repo}/pulls/{sample.number}"
    pull_request = {
        "url": url, "id": _id(f"{sample.repo}#{sample.number}"), "number": sample.number,
        "html_url": f"{WEB}/{sample.repo}/pull/{sample.number}", "state": "closed" if merged else "open",
        "locked": False, "title": sample.title, "user": _user(sample.sender), "body": "Sent by tekton-dag send.",
        "created_at": now, "updated_at": now, "closed_at": now if merged else None,
        "merged_at": now if merged else None,
        "merge_commit_sha": hashlib.sha1(f"merge {sample.head_sha()}".encode()).hexdigest() if merged else None,
        "draft": False, "merged": merged, "mergeable": None if merged else True,
        "merged_by": _user(sample.sender) if merged else None,
        "head": _branch(sample, sample.branch, sample.head_sha(), repo),
        "base": _branch(sample, sample.base, hashlib.sha1(sample.base.encode()).hexdigest(), repo),
        "labels": [], "commits": 1, "additions": 3, "deletions": 1, "changed_files": 1,
        "author_association": "OWNER",
    }
    action = {"pull_request.opened": "opened", "pull_request.synchronize": "synchronize"}.get(sample.kind, "closed")
    event: dict[str, Any] = {"action": action, "number": sample.number, "pull_request": pull_request}
    if action == "synchronize":
        event.update(before=hashlib.sha1(f"before {sample.head_sha()}".encode()).hexdigest(), after=sample.head_sha())
    return {**event, "repository": repo, "sender": _user(sample.sender)}


def _push_event(sample: Sample) -> dict[str, Any]:
    repo = _repository(sample.repo, sample.base)
    after, before = sample.head_sha(), hashlib.sha1(f"before {sample.head_sha()}".encode()).hexdigest()
    author = {"name": sample.sender, "email": f"{sample.sender}@users.noreply.github.com", "username": sample.sender}
    commit = {
        "id": after, "tree_id": hashlib.sha1(after.encode()).hexdigest(), "distinct": True,
        "message": sample.title, "timestamp": _now(), "url": f"{WEB}/{sample.repo}/commit/{after}",
        "author": author, "committer": author, "added": [], "removed": [], "modified": ["README.md"],
    }
    return {
        "ref": f"refs/heads/{sample.base}", "before": before, "after": after, "created": False,
        "deleted": False, "forced": False, "base_ref": None,
        "compare": f"{WEB}/{sample.repo}/compare/{before[:12]}...{after[:12]}",
        "commits": [commit], "head_commit": commit, "repository": repo,
        "pusher": {"name": sample.sender, "email": author["email"]}, "sender": _user(sample.sender),
    }


def _ping_event(sample: Sample) -> dict[str, Any]:
    return {
        "zen": "Keep it logically awesome.", "hook_id": 424242,
        "hook": {
            "type": "Repository", "id": 424242, "name": "web", "active": True, "events": ["pull_request", "push"],
            "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://ci.example.com/webhook/github"},
        },
        "repository": _repository(sample.repo, sample.base), "sender": _user(sample.sender),
    }
