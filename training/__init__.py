"""training stage of simplepose."""
