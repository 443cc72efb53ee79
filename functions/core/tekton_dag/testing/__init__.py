"""Test doubles of the systems tekton-dag talks to, shipped with it (as ``kopf.testing`` or httpx's
``MockTransport`` ship theirs) so that tests and benchmarks share one of each.

- ``kube_api``: kube-apiserver (and a little of Tekton's controller), over real HTTP on loopback;
- ``recorder``: whatever receives CloudEvents (a Broker's ingress, a subscriber, a dead-letter sink);
- ``github``: GitHub sending webhooks (its published example deliveries, signed);
- ``argocd``: ArgoCD's ApplicationSet controller (git files generator, Go templates via helm);
- ``networkpolicy``: Kubernetes' NetworkPolicy ingress rules (selectors, peers, ports);
- ``fake_kubectl`` and ``task_scripts``: kubectl, the kubelet and the clock that the Tekton task
  scripts see;
- ``registry``: the real OCI registry (``docker-registry``) started for a test, with a stand-in
  token service.

Each module's docstring says what it models and what not; docs/testing.md has the table. A double
enforces the real system's rules and cites where they come from; it never shares the product code
it checks (the fake API's merge patch is its own, not ``kube.stores.merge_patch``).

Layering: the doubles may import any layer of ``tekton_dag`` below the developer tools; only
``tekton_dag.devchain``, tests and benchmarks import them, never the deployed functions. The
modules import nothing from pytest: fixtures live in tests/conftest.py.
"""
