"""The one exception type that user-facing code raises for bad input."""


class DeconvError(ValueError):
    """Bad input from the user: the message names the culprit and what is valid.

    Command-line modules print the message as one line and exit with status 2;
    library callers can catch it like any `ValueError`.
    """
