"""The ``simplepose`` command line runner and the user error it reports as one line."""
