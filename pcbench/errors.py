"""The exception types that the CLI turns into a clean one-line message."""

from __future__ import annotations


class PcbenchError(Exception):
    """A user-facing error: bad input, a missing file, an invalid configuration.

    The message is a single line that names the file, field or value at fault and what
    is allowed. The CLI prints it as ``error: <message>`` and exits with
    :attr:`exit_status` (2), never a traceback.
    """

    exit_status = 2


class TasksFailed(PcbenchError):
    """Tasks of a distributed run failed (each named with the cell it died in and its log);
    the cells they committed are kept and a rerun resubmits only the missing ones. Exit status 1:
    the input was fine, the run was not."""

    exit_status = 1


class InvalidValue(PcbenchError):
    """A field holding a value it may not hold: ``<where>: <key> = <value> <requirement>``.

    Raised where the field is checked (e.g. ``ModelSpec.__post_init__``, ``where`` =
    ``model 'my-cnn'``), which does not know the file the value came from; a reader of that
    file re-raises it at the value's dotted path with :meth:`at`, e.g.
    ``models.toml: models.my-cnn.num_classes = 'ten' must be an integer >= 1``.
    """

    def __init__(self, where: str, key: str, value: object, requirement: str) -> None:
        self.key, self.value, self.requirement = key, value, requirement
        super().__init__(f"{where}: {key} = {value!r} {requirement}")

    def at(self, prefix: str) -> PcbenchError:
        """The same error placed under ``prefix`` (a file and a dotted table path)."""
        return PcbenchError(f"{prefix}.{self.key} = {self.value!r} {self.requirement}")
