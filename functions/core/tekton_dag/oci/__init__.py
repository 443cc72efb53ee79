"""Asking an OCI registry whether an image exists (the Distribution API, over async httpx).

- ``references``: image names (``<registry>/<app>:<tag>``), registry hosts, http or https.
- ``credentials``: docker ``config.json``-style credentials (file or environment).
- ``challenges``: parsing ``WWW-Authenticate`` (Bearer token and Basic).
- ``client``: ``RegistryClient.presence(ref)`` -> present / absent / unknown, with bounded concurrency.
"""

from tekton_dag.oci.client import Presence, PresenceCheck, RegistryClient
from tekton_dag.oci.references import ImageRef, image_ref

__all__ = ["ImageRef", "Presence", "PresenceCheck", "RegistryClient", "image_ref"]
