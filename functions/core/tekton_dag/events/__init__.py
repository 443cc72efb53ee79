"""CloudEvents: the catalog of types and extensions (``catalog``) and GitHub payload handling."""
