"""Bootstrap planning: which apps of a team to build, in which order, and why the others are skipped.

Pure steps (no I/O, testable with plain values):

- ``selection``: the requested apps, or every app of the stack(s); unknown names are rejected.
- ``planning``: per app, build or skip from the registry's answer; build waves from ``graph``.
- ``events``: the plan as CloudEvents (``run.requested`` per stack, ``bootstrap.planned`` /
  ``bootstrap.skipped``, ``run.failed`` for a rejection).

The I/O lives one layer up: ``tekton_dag.usecases.bootstrapping.plan_bootstrap`` asks the registry
(``tekton_dag.oci``) about every selected image, concurrently and bounded, then calls these steps.
"""

from tekton_dag.bootstrap.planning import DEFAULT_IMAGE_TAG, AppDecision, BootstrapPlan, StackPlan
from tekton_dag.bootstrap.selection import BootstrapRejected, Selection, select

__all__ = [
    "DEFAULT_IMAGE_TAG", "AppDecision", "BootstrapPlan", "BootstrapRejected", "Selection", "StackPlan",
    "select",
]
