"""PipelineRuns: the one builder, their names, their states, admission and supersede -- decisions
only, no I/O (``tekton_dag.usecases.creating`` drives them against a store).

- ``building``: ``build_pipelinerun(request, team, stack)`` (THE builder)
- ``naming``: deterministic DNS-1123 names, safe label values
- ``states``: pending / finished, read from a PipelineRun
- ``ledgers``: the per-team admission ledger (pure data, no I/O)
"""

from tekton_dag.pipelineruns.building import (
    BuildError,
    build_pipelinerun,
    canonical_json,
)
from tekton_dag.pipelineruns.naming import run_name

__all__ = ["BuildError", "build_pipelinerun", "canonical_json", "run_name"]
