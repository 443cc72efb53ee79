"""Team and stack configuration: models, loading, validation and hot reload."""
