"""CloudEvents on the wire, for every function: publishing to the Broker ingress (``K_SINK``) and
decoding what a Broker delivers. Deployed in every image; knows nothing of Brokers' insides."""

from typing import Final

# Where Knative tells a function to send its events (SinkBinding or env): here, so that the CLI
# can read it without importing the publisher (cloudevents, aiohttp) before a function starts.
K_SINK_ENV: Final = "K_SINK"
