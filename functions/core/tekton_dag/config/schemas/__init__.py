"""JSON Schemas of the configuration files, one per file kind (``<kind>.schema.json``)."""
