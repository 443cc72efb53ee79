"""tekton-dag: multi-team CI orchestration for Tekton.

A map of the package, in layers (a module imports only from its own layer or a lower one):

1. Data and contracts -- no I/O:
   ``config`` (team and stack files: models, loading, validation, reloading),
   ``graph`` (dependency order of a stack's apps), ``index`` (owner/repo -> targets),
   ``events`` (CloudEvent types and extensions, GitHub payload normalisation),
   ``pipelines`` (the contract between PipelineRuns and the Tekton pipelines: names, params, labels).
2. Decisions -- pure functions over layer 1: resolution, PipelineRun building, admission, bootstrap planning.
3. I/O: Kubernetes API, the Broker (publishing, the local Broker), the OCI registry.
   ``observability.metrics`` (the Prometheus metrics) is a leaf they and the adapters record into;
   the layers below never import it.
4. Adapters: ``functions`` (the four Knative function handlers), ``cli``, ``serving``.
"""

from importlib import metadata

try:  # pyproject.toml's [project] version, the one place it is written
    __version__ = metadata.version("tekton-dag")
except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
