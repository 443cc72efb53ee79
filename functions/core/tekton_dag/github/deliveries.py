"""Missed webhook deliveries: list a hook's deliveries and ask GitHub to redeliver the failed ones.

GitHub never redelivers by itself (https://docs.github.com/en/webhooks/using-webhooks/
handling-failed-webhook-deliveries); its hook-deliveries API lists the deliveries of the past
3 days, newest first, paged by a ``cursor`` carried in the ``Link`` header, and redelivers one on
``POST .../deliveries/{id}/attempts`` (https://docs.github.com/en/rest/apps/webhooks,
https://docs.github.com/en/rest/repos/webhooks):

- the App's hook: ``GET /app/hook/deliveries`` (the App's JWT);
- a repository hook: ``GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries`` (a token).

Each item has an ``id`` (this delivery attempt; what the redelivery endpoint takes) and a ``guid``
("shared with all deliveries for all webhooks that subscribe to this event": the
``X-GitHub-Delivery`` header). A redelivery sends the same guid, and webhook-ingest makes that
guid the CloudEvent id, so a guid that reached us twice still starts its runs once. ``plan`` picks
one delivery per guid that never succeeded, so running it again asks for nothing new.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tekton_dag.github.client import Client
from tekton_dag.github.port import GitHubError, Repo

WINDOW_S: Final = 3 * 24 * 3600  # GitHub keeps deliveries for 3 days


@dataclass(frozen=True)
class Hook:
    """The App's webhook (``repo`` None) or repository webhook ``hook_id`` of ``repo``."""

    repo: Repo | None = None
    hook_id: int | None = None

    def describe(self) -> str:
        return "the App's webhook" if self.repo is None else f"webhook {self.hook_id} of {self.repo.full_name}"


@dataclass(frozen=True)
class Delivery:
    id: int
    guid: str
    event: str
    action: str | None
    status_code: int
    status: str
    delivered_at: float  # Unix time
    redelivery: bool

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300

    @classmethod
    def from_item(cls, item: Any) -> Delivery:
        """One item of a deliveries page (GitHub's ``hook-delivery-item``); GitHubError names what
        an item that is not one lacks, rather than a KeyError out of the CLI."""
        if not isinstance(item, Mapping):
            raise GitHubError(f"list_hook_deliveries: an item is {type(item).__name__}, not an object")
        try:
            at = datetime.fromisoformat(str(item["delivered_at"]).replace("Z", "+00:00")).timestamp()
            action = item.get("action")
            return cls(int(item["id"]), str(item["guid"]), str(item["event"]), None if action is None else str(action),
                       int(item.get("status_code") or 0), str(item.get("status", "")), at,
                       bool(item.get("redelivery")))
        except KeyError as exc:
            problem = f"has no {exc.args[0]!r}"
        except (TypeError, ValueError) as exc:
            problem = f"has a malformed field ({exc})"
        raise GitHubError(f"list_hook_deliveries: delivery {str(item.get('id', '?'))[:40]} {problem}")


async def recent(client: Client, hook: Hook, since: float) -> list[Delivery]:
    """Every delivery of ``hook`` at or after ``since`` (Unix time), newest first. Paged by
    ``Client.pages``; each page within its own deadline (a command, no Broker waiting on it)."""
    if hook.repo is None:
        url, variables, as_app = "/app/hook/deliveries{?per_page}", {}, True
    else:
        url, variables, as_app = ("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries{?per_page}",
                                  {"hook_id": hook.hook_id}, False)
    found: list[Delivery] = []
    async with contextlib.aclosing(client.pages("list_hook_deliveries", hook.repo, url, variables,
                                                as_app=as_app)) as pages:
        async for page in pages:
            if not isinstance(page, list):
                raise GitHubError("list_hook_deliveries: GitHub's answer is not a list")
            items = [Delivery.from_item(item) for item in page]
            found += [d for d in items if d.delivered_at >= since]
            if items and items[-1].delivered_at < since:
                break  # newest first: the rest is older
    return found


def plan(deliveries: Iterable[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
    """(to redeliver, skipped): per guid, the newest failed delivery, unless one of that guid succeeded."""
    by_guid: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_guid.setdefault(delivery.guid, []).append(delivery)
    chosen: list[Delivery] = []
    skipped: list[Delivery] = []
    for attempts in by_guid.values():
        failed = sorted((d for d in attempts if not d.succeeded), key=lambda d: d.id, reverse=True)
        if not failed:
            continue
        if any(d.succeeded for d in attempts):
            skipped.append(failed[0])
        else:
            chosen.append(failed[0])
    return sorted(chosen, key=lambda d: d.id), sorted(skipped, key=lambda d: d.id)


async def redeliver(client: Client, hook: Hook, delivery: Delivery) -> None:
    if hook.repo is None:
        await client.call("redeliver_hook_delivery", None, "POST", "/app/hook/deliveries/{delivery_id}/attempts",
                          {"delivery_id": delivery.id}, as_app=True)
    else:
        await client.call("redeliver_hook_delivery", hook.repo, "POST",
                          "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts",
                          {"hook_id": hook.hook_id, "delivery_id": delivery.id})
