"""``tekton-dag dev --simulate-tekton``: the Tekton controller double against the chain's store.

It reads the PipelineRuns run-creator wrote (the dry-run directory, or the cluster of
``--kubeconfig``, which must then have no Tekton of its own: the fake API of the tests), moves them
through Tekton's lifecycle with the project's Pipelines from ``pipeline/``, and posts Tekton's
CloudEvents to the local Broker, where the ``run-creator-pipelinerun-*`` Triggers deliver the
finished ones: a run goes queued → started → succeeded and the next queued run starts.
"""

from __future__ import annotations

from pathlib import Path

from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.kube.stores import DirectoryStore, KubernetesStore, RunStore
from tekton_dag.testing import tekton_rules
from tekton_dag.testing.tekton import TektonDouble, Timing, load_pipelines

DEFAULT_TASK_SECONDS = 1.0


def default_pipelines_dir() -> Path:
    """``pipeline/`` of the source tree this package runs from, else ``./pipeline``."""
    beside_source = Path(__file__).resolve().parents[4] / "pipeline"
    return beside_source if beside_source.is_dir() else Path("pipeline")


def store_for(kubeconfig: str | None, dry_run_dir: Path | None) -> RunStore:
    if kubeconfig:
        return KubernetesStore(kubeconfig)
    if dry_run_dir is None:
        raise ValueError("simulated Tekton needs a kubeconfig or a dry-run directory")
    return DirectoryStore(dry_run_dir)


def simulated_tekton(teams_dir: Path, sink: str, kubeconfig: str | None, dry_run_dir: Path | None,
                     task_seconds: float = DEFAULT_TASK_SECONDS, pipelines_dir: Path | None = None) -> TektonDouble:
    """A double for the teams' namespaces, each TaskRun taking ``task_seconds``."""
    namespaces = sorted({team.namespace for team in load_config_or_raise(teams_dir).teams})
    pipelines_dir = pipelines_dir or default_pipelines_dir()
    pipelines = load_pipelines(pipelines_dir)
    # Tekton's TaskRun-creation rules (one PVC per TaskRun under the default coschedule, ...): a run
    # that breaks one fails here as it would on a stock cluster.
    rules = tekton_rules.taskrun_rules(tasks=tekton_rules.load_tasks(pipelines_dir.parent / "tasks"))
    return TektonDouble(store_for(kubeconfig, dry_run_dir), namespaces, pipelines, sink=sink,
                        timing=Timing(default=task_seconds), poll_interval=min(0.2, max(task_seconds / 4, 0.02)),
                        taskrun_rules=rules)
