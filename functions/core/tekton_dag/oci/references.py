"""Image references and the rules that turn a team's ``imageRegistry`` into registry requests.

Image naming (the same rule the Tekton containerize task pushes by, see docs/bootstrap.md)::

    <team.image_registry>/<app>:<tag>      e.g. localhost:5000/checkout-api:bootstrap

``image_registry`` may carry a path (``registry.example.com/team-a`` -> repository
``team-a/<app>``). Its first component is a registry host when it contains ``.`` or ``:`` or is
``localhost`` (Docker's rule); otherwise the host is Docker Hub and the whole value is a path.

Plain http is used for *localhost-style* hosts, https for every other host:

- ``localhost`` and ``*.localhost``, ``127.0.0.0/8``, ``::1``, and ``*.local`` (mDNS / lab names);
- a single-label host with an explicit port, e.g. ``kind-registry:5000`` (a cluster-internal or
  docker-network name, never a public registry);
- any host listed in ``TEKTON_DAG_INSECURE_REGISTRIES`` (comma-separated ``host[:port]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tekton_dag.pipelines import (
    INSECURE_REGISTRIES_ENV,
    image_registry_problem,
    image_tag_problem,
    insecure_registry_host,
    listed_insecure_hosts,
    registry_host_and_path,
)

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's Registry API actually answers


class ReferenceError(ValueError):
    """A registry or image name that cannot be used (empty, bad characters)."""


@dataclass(frozen=True)
class ImageRef:
    host: str  # registry host[:port] as written, e.g. "localhost:5000" or "docker.io"
    repository: str  # e.g. "team-a/checkout-api"
    tag: str

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}:{self.tag}"

    @property
    def api_base(self) -> str:
        """``http(s)://host`` of the Registry API for this image."""
        host = DOCKER_HUB_API if self.host == DOCKER_HUB else self.host
        return f"{scheme_for(self.host)}://{host}"

    @property
    def manifest_url(self) -> str:
        return f"{self.api_base}/v2/{self.repository}/manifests/{self.tag}"


def image_ref(image_registry: str, app: str, tag: str) -> ImageRef:
    """The image an app is built into: ``<image_registry>/<app>:<tag>``."""
    problem = image_registry_problem(image_registry)
    if problem:  # the team schema refuses these; a registry reached another way is checked here too
        raise ReferenceError(f"image registry {image_registry!r}: {problem}")
    if not app or not tag:
        raise ReferenceError(f"image name needs an app and a tag (got app={app!r}, tag={tag!r})")
    problem = image_tag_problem(tag)
    if problem:
        raise ReferenceError(f"image tag {problem}")
    host, path = registry_host_and_path(image_registry)
    repository = f"{path}/{app}" if path else app
    return ImageRef(host=host or DOCKER_HUB, repository=repository, tag=tag)


def scheme_for(host: str) -> str:
    """``http`` for localhost-style registries (module docstring), ``https`` otherwise."""
    return "http" if is_insecure(host) else "https"


def is_insecure(host: str) -> bool:
    """A localhost-style host or one listed in ``TEKTON_DAG_INSECURE_REGISTRIES``
    (``pipelines.insecure_registry_host``, the rule the pipelines' ``insecure-registry`` follows)."""
    return insecure_registry_host(host, listed_insecure_hosts(os.environ.get(INSECURE_REGISTRIES_ENV, "")))
