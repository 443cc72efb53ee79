"""Developer tooling, never deployed: the whole chain on one machine (``tekton-dag dev``), the local
Broker on its own (``python -m tekton_dag.devchain``), hosting on pre-bound sockets, signed sample
webhooks (``tekton-dag send``, the benchmarks), and the lifeline that makes ``dev``'s function
processes die with it (``tekton-dag serve`` imports it; it does nothing without ``dev``'s variable)."""
