"""Developer tooling, never deployed: the whole chain on one machine (``tekton-dag dev``), the local
Broker on its own (``python -m tekton_dag.devchain``), hosting on pre-bound sockets, and signed
sample webhooks (``tekton-dag send``, the benchmarks)."""
