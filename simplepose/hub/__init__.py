"""Where models come from: the registry of public weights, verified downloads and the cache."""
