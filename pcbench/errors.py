"""The one exception type that the CLI turns into a clean one-line message."""


class PcbenchError(Exception):
    """A user-facing error: bad input, a missing file, an invalid configuration.

    The message is a single line that names the file, field or value at fault and what
    is allowed. The CLI prints it as ``error: <message>`` and exits with status 2,
    never a traceback.
    """
