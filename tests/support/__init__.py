"""Test glue shared by several test folders: not doubles of real systems (those are in
``tekton_dag.testing``), but helpers that drive real tools and the repository's own files.

- ``broker``: the local Broker served by hypercorn, and the Broker/Trigger manifests it reads;
- ``e2e``: the whole local chain (``tekton-dag dev``) against the fake Kubernetes API;
- ``serving``: ``tekton-dag serve NAME`` as a real process on a free loopback port;
- ``helm``: the real helm binary on the chart, and validating what it renders;
- ``clirun``: the console entry point in a subprocess; ``trees``: small configuration trees.

Importable as ``support.<module>`` because pyproject's ``[tool.pytest.ini_options] pythonpath``
puts tests/ on the path; nothing edits ``sys.path``.
"""
