"""The local Broker: Knative Broker semantics (Trigger filters, DeliverySpec retries, replies, TTL,
dead letters) read from the same ``knative/`` manifests a cluster applies.

Runs in production inside the all-in-one function (``tekton_dag.functions.all_in_one``, for
installs without Knative Eventing) and on one machine under ``tekton-dag dev``.
"""
