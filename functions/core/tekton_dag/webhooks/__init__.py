"""GitHub webhooks: secrets (``secrets``), signature checks (``signatures``) and intake (``intake``)."""
