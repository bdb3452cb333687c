"""serving stage of simplepose."""
