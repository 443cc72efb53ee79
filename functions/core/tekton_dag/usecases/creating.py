"""The run-creator use case: turn requests into PipelineRuns under per-team admission.

It combines the pure decisions (``pipelineruns``: building, ledgers, states) with the I/O of a
``kube.stores.RunStore``; the Kubernetes and dry-run stores themselves stay in ``kube``.

Every change of a team's admission state goes through ``_update_ledger``: read the ledger and
its version, apply a pure ``Ledger`` transition, write it back conditionally, and on conflict
start over from a fresh read. The ledger, never a count of PipelineRuns, decides who holds a
slot, so the limit holds with any number of replicas; PipelineRuns only follow the ledger:

Concurrent changes of one team's ledger in one replica are written together (group commit,
``_update_ledger``): while one write is in flight the changes that arrive wait, and the next
write applies all of them in arrival order, each to the ledger the one before it left, under the
same precondition. A 409 re-reads and re-applies the whole batch; each caller still learns what
its own change decided. Under load a request then costs a share of one Lease write instead of a
whole one, and the guarantees are those of one conditional write per batch.

1. request: create the run waiting (``spec.status: PipelineRunPending``) → record it in the
   ledger, admitted or queued, releasing older heads of its PR in the same write → cancel those
   → start it if admitted. Two API calls for a queued run, three for an admitted one. Nothing is
   recorded for a create that failed, so failed starts never hold a slot; every entry names a
   run that exists, so whoever promotes an entry can start it. A request for a head the ledger
   knows was superseded (a redelivery, or GitHub's deliveries out of order) ends ``ignored``:
   no run is created when this replica's copy of the ledger already says so, and a run created
   before the conditional write found out is cancelled before it ever starts.
2. finished / cancelled: release the slot, promote the best queued runs, clear their pending
   status.
3. reconcile (periodic): release entries of runs that finished or vanished, adopt runs that
   were created but never recorded (a creator that died in between, or a lost ledger), promote,
   and start every admitted run still pending, so a lost event or a crashed replica never
   stalls a queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import Any, Literal

from tekton_dag import pipelines
from tekton_dag.config.models import Config, Team
from tekton_dag.events.requests import CancelRequest, RunRequest
from tekton_dag.kube.errors import LedgerConflict, PermanentApiError, TransientApiError
from tekton_dag.kube.stores import RunStore
from tekton_dag.pipelineruns import states
from tekton_dag.pipelineruns.building import BuildError, build_pipelinerun
from tekton_dag.pipelineruns.ledger_pieces import Entry, Heads, State, StoredChunk, load_segment, short_head
from tekton_dag.pipelineruns.ledgers import Ledger, MissingSegments
from tekton_dag.pipelineruns.naming import dns_name, label_value
from tekton_dag.usecases.ledger_hints import LedgerHints

log = logging.getLogger(__name__)

OutcomeKind = Literal["created", "queued", "failed", "ignored"]
MANAGED = {pipelines.L_MANAGED_BY: pipelines.MANAGED_BY}


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    request: RunRequest
    name: str = ""
    namespace: str = ""
    reason: str = ""
    superseded: tuple[str, ...] = ()
    position: int = 0  # a queued run's place in the team's queue, from 1


@dataclass
class RunCreator:
    """One replica's view; replicas share nothing but the API (ledgers and PipelineRuns)."""

    config: Callable[[], Config]  # the current config (the reloader may swap it)
    store: RunStore
    orphan_grace: float = 60.0  # seconds a ledger entry may wait for its PipelineRun to appear
    clock: Callable[[], float] = time.time
    # What other replicas of this process group wrote last (the all-in-one's workers); None: none shared.
    hints: LedgerHints | None = None
    # Serialises this replica's own ledger updates per team: fewer 409s, same correctness.
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # team → (ledger, version) last seen; kept parsed: with a long queue, parsing and
    # serialising the ledger was most of run-creator's CPU per request.
    _ledgers: dict[str, tuple[Ledger, str]] = field(default_factory=dict)
    # team → the ledger last read or written (unlike ``_ledgers``, never emptied): the admission view.
    _seen: dict[str, Ledger] = field(default_factory=dict)
    # team → its segments (queue and heads) by name, as the head last seen lists them: they never
    # change, so a copy never goes stale, and each is read once.
    _chunks: dict[str, dict[str, StoredChunk]] = field(default_factory=dict)
    # team → changes waiting for the next ledger write (group commit), and the task writing them.
    _pending: dict[str, list[_Change]] = field(default_factory=dict)
    _committers: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def admission(self) -> dict[str, tuple[int, int]]:
        """team → (runs holding a slot, runs queued) in the ledger this replica saw last (each
        team's is read at least every reconcile round)."""
        return {team: (ledger.admitted_count, ledger.queued_count) for team, ledger in self._seen.items()}

    # --- requests ---------------------------------------------------------------------------
    async def request(self, request: RunRequest, traceparent: str | None = None) -> Outcome:
        team = self.config().team(request.team)
        stack = team.stack(request.stack) if team else None
        if team is None or stack is None:
            missing = f"team {request.team!r}" if team is None else f"stack {request.stack!r} of team {request.team!r}"
            return Outcome("failed", request, reason=f"{missing} is not configured")
        try:
            run = build_pipelinerun(request, team, stack, traceparent=traceparent)
        except BuildError as exc:
            return Outcome("failed", request, reason=str(exc))
        # Every run is created waiting; the ledger decides when it starts. Creating before
        # recording means every ledger entry names a run that exists, so whoever promotes an
        # entry can always start it.
        run["spec"]["status"] = states.PENDING
        name = run["metadata"]["name"]
        group, sha = _pr_head(run)
        before = request.pr.before_sha if request.pr is not None else ""
        try:
            if group and await self._stale_head(team, group, sha, before):
                return self._superseded(request, team, name, group, sha)
            existing = await self._create_or_find(team, run)
            if (existing is not None and group and states.was_stopped(existing)
                    and _delivery_of(existing) != request.delivery):
                # Another delivery asks for a head whose run was stopped (closed then reopened,
                # pushed away from and back to): the head is the newest again and needs a run.
                run = build_pipelinerun(request, team, stack, traceparent=traceparent, again=request.delivery)
                run["spec"]["status"] = states.PENDING
                name = run["metadata"]["name"]
                existing = await self._create_or_find(team, run)
            if existing is not None and states.is_finished(existing):
                await self._promote(team, lambda ledger, now: ledger.release([name]))
                return Outcome("created", request, name, team.namespace)
            return await self._admit(team, request, run, existing is None or states.is_pending(existing), before)
        except PermanentApiError as exc:
            return Outcome("failed", request, name, team.namespace, reason=exc.message)

    async def _create_or_find(self, team: Team, run: dict[str, Any]) -> dict[str, Any] | None:
        """Create ``run``: None when it is created now, else the run of that name that exists
        already (a redelivery)."""
        if await self.store.create_run(run):
            return None
        name = states.name_of(run)
        existing = await self.store.get_run(team.namespace, name)
        if existing is None:
            raise TransientApiError(f"PipelineRun {team.namespace}/{name} vanished while adopting it; retry")
        return existing

    async def _stale_head(self, team: Team, group: str, sha: str, before: str) -> bool:
        """Whether the ledger already knows ``sha`` was superseded: this replica's newest copy
        (``_seen``) when it says "not stale", else a read (a push back makes a superseded head
        the newest again, which a copy may not know yet). Only a shortcut: the conditional write
        in ``_admit`` decides.

        Never ``_ledgers``: an update in flight has taken that copy out, and a read made then
        and put back could be older than the update's write; the next update would start from
        it, get a 409 and read again. Under load most requests arrive during another's update,
        and those extra reads, parses and conflicts were the chain's latency tail."""
        seen = self._seen.get(team.name)
        if seen is None:
            async with self._locks.setdefault(team.name, asyncio.Lock()):  # one first read, not one per request
                if team.name not in self._seen:
                    ledger, version = await self._read(team)
                    if version is not None:
                        self._ledgers[team.name] = (ledger, version)
                        self._seen[team.name] = self._ledgers[team.name][0]
                seen = self._seen.get(team.name)
            return seen is not None and seen.is_stale_head(group, sha, before)
        if not seen.is_stale_head(group, sha, before):
            return False
        # A copy can say "stale" wrongly: a push back to this head (``before`` naming the newest)
        # is news only the ledger has when another replica wrote the head it replaced. Rare: read.
        async with self._locks.setdefault(team.name, asyncio.Lock()):
            ledger, version = await self._read(team)
        if version is not None:
            self._seen[team.name] = ledger
        return ledger.is_stale_head(group, sha, before)

    def _superseded(self, request: RunRequest, team: Team, name: str, group: str, sha: str) -> Outcome:
        seen = self._seen.get(team.name)
        newest = seen.newest_head(group) if seen is not None else ""
        reason = f"superseded: head {short_head(sha)} of pull request {group} is older than {newest or 'a newer head'}"
        return Outcome("ignored", request, name, team.namespace, reason=reason)

    async def _admit(self, team: Team, request: RunRequest, run: dict[str, Any], pending: bool,
                     before: str = "") -> Outcome:
        """Record the created run in the ledger (superseding older heads of its PR in the same
        write), then cancel what it superseded and start whatever the ledger admitted. A head the
        ledger knows to be superseded is not recorded: its run is cancelled instead."""
        name, priority, (group, sha) = states.name_of(run), states.priority_of(run), _pr_head(run)
        superseded: list[str] = []
        stale: list[bool] = []
        again: list[bool] = []

        def record(ledger: Ledger, now: float) -> Ledger:
            recorded = ledger.has(name)
            again[:] = [recorded]
            stale[:] = [not recorded and ledger.is_stale_head(group, sha, before)]
            if stale[0]:
                superseded[:] = []
                return ledger
            superseded[:] = [] if recorded else ledger.older_heads(group, sha)
            ledger = ledger.release(superseded) if recorded else ledger.release(superseded).note_head(
                group, sha, before)
            return ledger.request(name, priority, team.max_concurrent_runs, now, group, sha)

        try:
            ledger, moved = await self._transition(team, record)
        except PermanentApiError:
            # Not recorded, so it must never start: stop it rather than leave it half-applied.
            try:
                await self.store.cancel_run(team.namespace, name)
            except (TransientApiError, PermanentApiError) as exc:
                log.warning("run %s/%s was not recorded and could not be cancelled: %s", team.namespace, name, exc)
            raise
        if stale and stale[0]:  # created before we knew: it must never start
            await self.store.cancel_run(team.namespace, name)
            return self._superseded(request, team, name, group, sha)
        # Cancel before starting: the cluster never runs more than the limit, even for a moment.
        cancelled = await self._cancel(team, superseded)
        heads = ledger.heads_of(group) if again and again[0] and group else None
        if heads is not None and heads.superseded:
            # Recorded already: a redelivery, whose first delivery released the older heads and
            # may have failed before their cancels (a 503 the Broker retries). Cancel again the
            # runs of the heads the ledger holds superseded: never a newer head not yet recorded.
            cancelled = await self._cancel_superseded_heads(team, request, heads)
        starting = [n for n in moved if n != name]
        if pending and ledger.is_admitted(name):
            starting.insert(0, name)
        await self._start(team, starting)
        kind: OutcomeKind = "queued" if ledger.is_queued(name) else "created"
        position = ledger.position(name) if kind == "queued" else 0
        return Outcome(kind, request, name, team.namespace, superseded=cancelled, position=position)

    # --- supersede and cancel ---------------------------------------------------------------
    async def cancel(self, cancel: CancelRequest) -> tuple[str, ...]:
        """Cancel the PR's pr-test runs (all but ``keep_head_sha``'s), or a merge group's; free their slots."""
        team = self.config().team(cancel.team)
        if team is None:
            return ()
        if cancel.merge_group:
            names = await self._cancel_group_runs(team, cancel.stack, cancel.app, cancel.merge_group)
        else:
            names = await self._cancel_pr_runs(team, cancel.stack, cancel.app, cancel.pr_number, cancel.keep_head_sha)
        if names:
            await self._promote(team, lambda ledger, now: ledger.release(names))
        return names

    async def _cancel_pr_runs(self, team: Team, stack: str, app: str, pr: int, keep_sha: str) -> tuple[str, ...]:
        runs = await self._unfinished_pr_runs(team, stack, app, pr)
        return await self._cancel(team, [states.name_of(run) for run in runs
                                         if not (keep_sha and _pr_head(run)[1] == keep_sha)])

    async def _cancel_superseded_heads(self, team: Team, request: RunRequest, heads: Heads) -> tuple[str, ...]:
        """Cancel the unfinished runs of the request's pull request at the ``heads`` superseded."""
        assert request.pr is not None  # a run with a ledger group is a pull request's
        runs = await self._unfinished_pr_runs(team, request.stack, request.app, request.pr.number)
        return await self._cancel(team, [states.name_of(run) for run in runs
                                         if short_head(_pr_head(run)[1]) in heads.superseded])

    async def _unfinished_pr_runs(self, team: Team, stack: str, app: str, pr: int) -> list[dict[str, Any]]:
        # Only stack-pr-test runs match: merge-release runs are never cancelled.
        selector = {
            **MANAGED, pipelines.L_TEAM: label_value(team.name), pipelines.L_STACK: label_value(stack),
            pipelines.L_APP: label_value(app), pipelines.L_PR: str(pr), pipelines.L_PIPELINE: pipelines.PR_TEST,
        }
        return [run for run in await self.store.list_runs(team.namespace, selector) if not states.is_finished(run)]

    async def _cancel_group_runs(self, team: Team, stack: str, app: str, group: str) -> tuple[str, ...]:
        selector = {
            **MANAGED, pipelines.L_TEAM: label_value(team.name), pipelines.L_STACK: label_value(stack),
            pipelines.L_APP: label_value(app), pipelines.L_MERGE_GROUP: label_value(group),
            pipelines.L_PIPELINE: pipelines.PR_TEST,
        }
        running = [states.name_of(r) for r in await self.store.list_runs(team.namespace, selector)
                   if not states.is_finished(r)]
        return await self._cancel(team, running)

    async def _cancel(self, team: Team, names: Iterable[str]) -> tuple[str, ...]:
        """Ask Tekton to stop ``names``; returns those it was asked to stop (not gone, not done), sorted."""
        cancelled = [n for n in names if await self.store.cancel_run(team.namespace, n)]
        return tuple(sorted(cancelled))

    # --- slots freeing ----------------------------------------------------------------------
    async def finished(self, namespace: str, name: str, team_label: str) -> list[str]:
        """Tekton reported ``name`` done: free its slot, start the next runs."""
        team = self._team_by_label(team_label, namespace)
        if team is None:
            return []
        # Tekton cannot seal its events, so one is only a hint: a forged "successful" must not free
        # the slot of a run that is still going. A run that is gone has freed its slot for good.
        run = await self.store.get_run(namespace, name)
        if run is not None and not states.is_finished(run):
            return []
        return await self._promote(team, lambda ledger, now: ledger.release([name]))

    async def reconcile(self, team: Team) -> list[str]:
        """Repair from the cluster's truth: drop entries of runs that finished or vanished, adopt
        runs nobody recorded, promote, and start admitted runs that are still pending (a lost
        start patch or event)."""
        selector = {**MANAGED, pipelines.L_TEAM: label_value(team.name)}
        runs = {states.name_of(r): r for r in await self.store.list_runs(team.namespace, selector)}
        finished = {n for n, r in runs.items() if states.is_finished(r)}
        grace = self.orphan_grace
        superseded: list[str] = []

        def repair(ledger: Ledger, now: float) -> Ledger:
            ledger = ledger.prune(finished, runs.keys(), now, grace)
            superseded[:] = []
            # A run unrecorded for longer than the grace period lost its creator between create
            # and record (or the ledger was lost); younger ones may still be on their way in.
            # But one whose head the ledger knows was superseded was released by the write that
            # superseded it, and only its cancel was lost: it is cancelled, never adopted.
            for name, run in runs.items():
                if name not in finished and now - _created_at(run) > grace and not ledger.has(name):
                    group, sha = _pr_head(run)
                    if group and ledger.is_stale_head(group, sha):
                        superseded.append(name)
                    else:
                        ledger = ledger.adopt(name, _entry_for(run, now))
            return ledger

        ledger, moved = await self._transition(team, repair)
        await self._cancel(team, superseded)
        started = await self._start(team, moved)
        stuck = [n for n in ledger.admitted() if n in runs and states.is_pending(runs[n]) and n not in started]
        return started + await self._start(team, stuck)

    async def reconcile_all(self) -> dict[str, list[str]]:
        started = {}
        for team in self.config().teams:
            try:
                started[team.name] = await self.reconcile(team)
            except (TransientApiError, PermanentApiError) as exc:
                log.warning("reconcile of team %s failed: %s", team.name, exc)
        return started

    async def _promote(self, team: Team, change: Callable[[Ledger, float], Ledger]) -> list[str]:
        _, moved = await self._transition(team, change)
        return await self._start(team, moved)

    async def _transition(self, team: Team, change: Callable[[Ledger, float], Ledger]) -> tuple[Ledger, list[str]]:
        """Apply ``change`` then fill free slots from the queue; returns the written ledger and
        the names that became admitted by promotion (their runs still need starting)."""
        before: list[Ledger] = []
        mine: list[Ledger] = []

        def change_and_promote(ledger: Ledger, now: float) -> Ledger:
            before[:] = [ledger]
            mine[:] = [change(ledger, now).promote(team.max_concurrent_runs, now)[0]]
            return mine[0]

        after = await self._update_ledger(team, change_and_promote)
        # Only what this change promoted (a later change in the same write promoted its own), and
        # only while the written ledger still admits it (a later change may have released it).
        own = mine[0] if mine else after
        return after, [n for n in own.admitted() if before and before[0].is_queued(n) and after.is_admitted(n)]

    async def _start(self, team: Team, names: Iterable[str]) -> list[str]:
        started = []
        for name in names:
            # Only if still waiting: another replica whose ledger write came after the one this
            # promotion is based on may have released and cancelled it meanwhile.
            if await self.store.start_run(team.namespace, name):
                started.append(name)
        return started

    # --- the one way to change a ledger -----------------------------------------------------
    async def _update_ledger(self, team: Team, change: Callable[[Ledger, float], Ledger]) -> Ledger:
        """Apply ``change`` in the team's next ledger write; the ledger as written (group commit:
        changes arriving while a write is in flight go together in the next one)."""
        written: asyncio.Future[Ledger] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(team.name, []).append(_Change(change, written))
        if team.name not in self._committers:
            self._committers[team.name] = asyncio.get_running_loop().create_task(self._commit(team))
        # A caller that gives up (cancelled) does not take the others' write with it: the
        # committer is its own task; the change is written anyway, as if the answer was lost.
        return await asyncio.shield(written)

    async def _commit(self, team: Team) -> None:
        """Write the team's waiting changes, a batch per write, until none wait."""
        try:
            while batch := self._pending.pop(team.name, []):
                try:
                    ledger = await self._write(team, partial(_all_of, [c.change for c in batch]))
                except Exception as exc:  # every change of the batch shares its write's fate
                    for c in batch:
                        c.written.set_exception(exc)
                        c.written.exception()  # retrieved here: a caller that gave up must not warn
                    continue
                for c in batch:
                    c.written.set_result(ledger)
        finally:
            del self._committers[team.name]

    async def _write(self, team: Team, change: Callable[[Ledger, float], Ledger]) -> Ledger:
        """One conditional write of ``change`` applied to the team's ledger (re-read and
        re-applied on conflict)."""
        lock = self._locks.setdefault(team.name, asyncio.Lock())
        turn = self.hints.turn(team.namespace, ledger_name(team)) if self.hints else nullcontext()
        async with lock, turn:  # one write at a time here, and among the all-in-one's workers
            # First try from the ledger this replica last wrote (saves a read when it is still
            # current); the conditional write catches a stale copy, and a "nothing to change"
            # answer is never trusted from a copy.
            cached = self._newest(team, self._ledgers.pop(team.name, None))
            version: str | None  # None: no ledger yet
            tried: tuple[Ledger, Ledger, str] | None = None  # a write refused with 409: (from, to, text)
            while True:
                if cached is not None:
                    current, version = cached
                else:
                    head, version = await self.store.read_ledger(team.namespace, ledger_name(team))
                    if tried is not None and version is not None and head == tried[2]:
                        # The refused write was our own earlier attempt, landed with its answer lost:
                        # it stands, and so does all it decided (applying ``change`` again to it would
                        # find nothing to do, and the cancels and starts it implies would be lost).
                        return await self._wrote(team, tried[0], tried[1], tried[2], version)
                    current, version = await parse_ledger(self.store, team, head, version,
                                                          self._chunks.setdefault(team.name, {}))
                read = current
                if current.unstored():
                    # Sealed by an earlier write: create their Leases, then the head may drop them.
                    for chunk in current.unstored():
                        await self.store.create_segment(
                            team.namespace, segment_name(team, chunk.name), ledger_name(team), chunk.text)
                    current = current.stored()
                updated = change(current, self.clock()).seal()
                if updated == read and version is not None:
                    if cached is None:
                        self._ledgers[team.name] = (current, version)
                        self._seen[team.name] = current
                        return current
                    cached = None
                    continue
                text = updated.dumps()
                try:
                    new_version = await self.store.write_ledger(team.namespace, ledger_name(team), text, version)
                except LedgerConflict:
                    # Someone else wrote first -- or our own earlier attempt did and its answer
                    # was lost (a retry of it then gets 409). Re-read: our own text means it landed.
                    cached, tried = None, (current, updated, text)
                    continue
                return await self._wrote(team, current, updated, text, new_version)

    async def _wrote(self, team: Team, current: Ledger, updated: Ledger, text: str, version: str) -> Ledger:
        """Note a landed write of ``updated`` (made from ``current``) at ``version``."""
        if self.hints is not None:
            self.hints.wrote(team.namespace, ledger_name(team), version, text)
        self._ledgers[team.name] = (updated, version)
        self._seen[team.name] = updated
        if updated.listed() is not current.listed():  # the same tuple: no segment came or went
            _keep_listed(self._chunks.setdefault(team.name, {}), updated)
            await self._forget_segments(team, current, updated)
        return updated

    def _newest(self, team: Team, cached: tuple[Ledger, str] | None) -> tuple[Ledger, str] | None:
        """The copy to start a write from: the one another worker noted writing last (``hints``)
        when it is not ``cached``; else ``cached``. Only a copy like ``cached``: the write is
        conditional, and a stale hint costs the 409 and read it saves otherwise. A hint naming
        segments this replica has not read yet is not used: the read fetches them."""
        hint = self.hints.latest(team.namespace, ledger_name(team)) if self.hints is not None else None
        if hint is None or (cached is not None and cached[1] == hint[0]):
            return cached
        version, text = hint
        chunks = self._chunks.setdefault(team.name, {})
        try:
            ledger = Ledger.loads(text, chunks)
        except (MissingSegments, ValueError, LookupError, TypeError):
            return None
        _keep_listed(chunks, ledger)
        return ledger, version

    async def _read(self, team: Team) -> tuple[Ledger, str | None]:
        return await read_ledger(self.store, team, self._chunks.setdefault(team.name, {}))

    async def _forget_segments(self, team: Team, before: Ledger, after: Ledger) -> None:
        """Delete the Leases of segments the written head no longer lists (nothing waits in them,
        or their heads were rewritten). Best effort: a segment left behind is never read again
        (its name is its content)."""
        kept = {chunk.name for chunk, _ in after.listed()}
        for chunk, stored in before.listed():
            name = chunk.name
            if stored and name not in kept:
                try:
                    await self.store.delete_segment(team.namespace, segment_name(team, name))
                except (TransientApiError, PermanentApiError) as exc:
                    log.warning("could not delete admission ledger segment %s/%s no longer listed: %s",
                                team.namespace, name, exc)

    def _team_by_label(self, team_label: str, namespace: str) -> Team | None:
        for team in self.config().teams:
            if label_value(team.name) == team_label and team.namespace == namespace:
                return team
        return None


async def read_ledger(store: RunStore, team: Team, chunks: dict[str, StoredChunk] | None = None
                      ) -> tuple[Ledger, str | None]:
    """The team's ledger and its version: the head, with the segments it lists, each read once
    (``chunks``: those read before, by name; left holding exactly the ones the head lists). A
    segment that vanished loses its runs until the reconcile adopts them again."""
    text, version = await store.read_ledger(team.namespace, ledger_name(team))
    return await parse_ledger(store, team, text, version, {} if chunks is None else chunks)


async def parse_ledger(store: RunStore, team: Team, text: str | None, version: str | None,
                       chunks: dict[str, StoredChunk]) -> tuple[Ledger, str | None]:
    """``read_ledger`` of a head already read (``text`` at ``version``)."""
    while True:
        try:
            ledger = Ledger.loads(text, chunks)
        except MissingSegments as missing:
            for name in missing.names:
                chunk_text = await store.read_segment(team.namespace, segment_name(team, name))
                if chunk_text is None:
                    # Drained and deleted since we read the head? Then the head has moved on.
                    newer, newer_version = await store.read_ledger(team.namespace, ledger_name(team))
                    if newer_version != version:
                        text, version = newer, newer_version
                        break
                    log.warning("admission ledger segment %s/%s is missing; the reconcile adopts its runs "
                                "(a heads segment: its pull requests' heads are forgotten)",
                                team.namespace, segment_name(team, name))
                chunks[name] = load_segment(name, chunk_text)
            continue
        _keep_listed(chunks, ledger)
        return ledger, version


def _delivery_of(run: Mapping[str, Any]) -> str:
    return str(((run.get("metadata") or {}).get("annotations") or {}).get(pipelines.A_DELIVERY, ""))


def _keep_listed(chunks: dict[str, StoredChunk], ledger: Ledger) -> None:
    """Keep in ``chunks`` the segments ``ledger``'s head lists, and no others (what the next
    read or write of the ledger reuses)."""
    chunks.clear()
    chunks.update((chunk.name, chunk) for chunk, _ in ledger.listed())


def _all_of(changes: list[Callable[[Ledger, float], Ledger]], ledger: Ledger, now: float) -> Ledger:
    """``changes`` applied one after the other: a batch of the group commit."""
    for change in changes:
        ledger = change(ledger, now)
    return ledger


@dataclass(frozen=True)
class _Change:
    """A change of a team's ledger waiting for the next write, and where its caller learns the result."""

    change: Callable[[Ledger, float], Ledger]
    written: asyncio.Future[Ledger]


def ledger_name(team: Team) -> str:
    """The team's coordination object (a Lease in the team's namespace)."""
    return _ledger_name(team.name)


@lru_cache(maxsize=4096)
def _ledger_name(team: str) -> str:
    # Kept: a request asks for it a dozen times (turn, write, note, segments), and its hash was
    # 1.7% of an all-in-one worker's time at 100/s (py-spy, docs/performance.md, thirteenth round).
    return dns_name(f"tekton-dag-admission-{team}", ("admission", team))


def segment_name(team: Team, chunk: str) -> str:
    """The Lease of one of the team's segments (``chunk``: its name in the head, "q<hash>" for the
    queue, "h<hash>" for heads)."""
    return f"{ledger_name(team)}-{chunk}"


def _pr_head(run: dict[str, Any]) -> tuple[str, str]:
    """The ledger group of a pr-test run (``<stack>/<app>/<pr>``, from its labels: the runs of
    one PR, whose newer heads supersede older) and its head sha; ("", "") for other runs."""
    labels = states.labels_of(run)
    if labels.get(pipelines.L_PIPELINE) != pipelines.PR_TEST or not labels.get(pipelines.L_PR):
        return "", ""
    group = f"{labels.get(pipelines.L_STACK, '')}/{labels.get(pipelines.L_APP, '')}/{labels[pipelines.L_PR]}"
    return group, (run["metadata"].get("annotations") or {}).get(pipelines.A_HEAD_SHA, "")


def _entry_for(run: dict[str, Any], now: float) -> Entry:
    """The ledger entry of a run found in the cluster: queued while pending, else holding a slot."""
    group, sha = _pr_head(run)
    state: State = "queued" if states.is_pending(run) else "admitted"
    return Entry(state, states.priority_of(run), 0, now, group, short_head(sha))


def _created_at(run: dict[str, Any]) -> float:
    """Epoch seconds of ``metadata.creationTimestamp``; long ago when absent (e.g. a dry run)."""
    stamp = run["metadata"].get("creationTimestamp")
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("-inf")
