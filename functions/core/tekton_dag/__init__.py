"""tekton-dag: multi-team CI orchestration for Tekton.

A map of the package, in layers from the top: a module imports only from its own layer or the
layers below it, and the packages sharing a layer do not import each other. ``.importlinter`` at
the repository root states the same layers (and forbids import cycles inside a package), and
``scripts/check`` enforces them.

1. ``cli``: the ``tekton-dag`` command.
2. ``devchain``: developer tooling, never deployed (``tekton-dag dev``, samples, the benchmarks).
3. ``testing``: the test doubles, shipped with the package (tests, benchmarks, ``dev --simulate-tekton``).
4. ``functions``: the Knative function handlers, the all-in-one and how ``serve`` hosts them.
5. ``bus`` (the local Broker, also run by the all-in-one) | ``usecases`` (decisions driven against
   I/O: run creation and admission, bootstrap planning with the registry).
6. I/O: ``eventing`` (CloudEvents to and from a Broker) | ``kube`` (the Kubernetes API and the run
   stores) | ``oci`` (the OCI registry) | ``github`` (GitHub's REST API: checks, statuses, comments).
7. Decisions, no network I/O: ``resolution`` | ``pipelineruns`` (building, names, states, the
   admission ledger) | ``bootstrap`` (selection, planning, its events) | ``webhooks`` (GitHub
   secrets, signatures, intake) | ``checks`` (check states from run events, PR comment commands).
8. Data and contracts: ``config`` (team and stack files: models, loading, validation, reloading, the
   dependency graph, the resolver index) | ``events`` (CloudEvent types and extensions, the codec,
   GitHub payload normalisation).
9. ``pipelines`` (the contract between PipelineRuns and the Tekton pipelines: names, params,
   labels) | ``warming`` (start-up work off the path to ready) | ``observability`` (the Prometheus
   metrics: a leaf the I/O layers and the handlers record into).
10. ``syntax`` (the syntax of plain values from outside, such as ASCII digits and URLs: a leaf every
   layer checks them with, the metrics and the pipeline contract included).
"""

# pyproject.toml's [project] version, stamped here by scripts/generate (scripts/generators/version.py):
# reading it from the installed metadata imported importlib.metadata, ~50 ms of every function's start.
__version__ = "0.10.0"
