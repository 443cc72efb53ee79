"""Use cases: the decisions of the layer below driven against real I/O, one module per job.

- ``creating``: ``RunCreator``, run-creator's core (admit, create, queue, start, supersede, cancel,
  reconcile) over the ``pipelineruns`` decisions and a ``kube.stores.RunStore``.
- ``commanding``: ``authorise``, what a PR command (``command.requested``) leads to, with GitHub's
  answers (``tekton_dag.github`` port): status-reporter calls it.
- ``bootstrapping``: ``plan_bootstrap``, bootstrap selection and planning with the registry's answers
  (``tekton_dag.oci``).

Deployed in every image; the function handlers and the CLI call these.
"""
