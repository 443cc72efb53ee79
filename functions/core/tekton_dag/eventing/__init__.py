"""CloudEvents on the wire, for every function: publishing to the Broker ingress (``K_SINK``) and
decoding what a Broker delivers. Deployed in every image; knows nothing of Brokers' insides."""
