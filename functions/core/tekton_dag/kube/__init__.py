"""Kubernetes I/O: the API client, retries with a deadline, and the stores run-creator writes to.

- ``errors``: transient vs permanent API errors, ledger conflicts
- ``clients``: ``kubernetes_asyncio``, in-cluster config, else KUBECONFIG / ~/.kube/config; calls retried
- ``shared``: one client per process, shared by every adapter, closed at shutdown
- ``stores``: the ``RunStore`` interface and its two implementations (Kubernetes, dry-run directory)
- ``listing``: read-only listing of a team's runs (webhook-ingest's ``/api/runs``)
- ``apilimits``: the object limits kube-apiserver enforces (the dry-run store and the fake API)
"""
