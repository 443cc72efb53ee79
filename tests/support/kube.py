"""The official synchronous ``kubernetes`` client, as tests use it: an independent real client
(not the product's ``kubernetes_asyncio``) to set up and inspect the fake API the way a user's
``kubectl`` would."""

from __future__ import annotations

import os

from kubernetes import client, config


def official_client(kubeconfig: str | os.PathLike[str] | None = None) -> client.ApiClient:
    """A client for the kubeconfig at ``kubeconfig`` (default: ``KUBECONFIG``); close it when done."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig or os.environ["KUBECONFIG"]),
                            client_configuration=configuration)
    configuration.retries = False  # the tests count requests: urllib3 must not repeat any
    return client.ApiClient(configuration)
