"""export stage of simplepose."""
