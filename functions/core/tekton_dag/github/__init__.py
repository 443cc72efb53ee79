"""GitHub's REST API, as status-reporter and the CLI use it (I/O layer, beside ``kube`` and ``oci``).

``port`` is the contract the use cases program against; the client that implements it (GitHub App
or token auth, rate limits, retries) lives beside it.
"""
