"""Talking to a Broker: publishing CloudEvents to ``K_SINK`` and (later) the local Broker."""
