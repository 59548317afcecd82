"""The exception hierarchy and the exit codes it maps to (the same for every command).

Every error the user can cause or meet is one of these; cli.main turns it into one line on
stderr and its exit code, so no traceback ever reaches the user.
"""

EXIT_OK = 0
EXIT_FINDINGS = 1  # the host or config has errors, or drift was found
EXIT_USAGE = 2  # bad usage or bad input (config, snapshot, capture, arguments)
EXIT_ENVIRONMENT = 3  # not root, tuned or D-Bus unavailable, untrusted state, stdout unwritable

EXIT_CODES_HELP = """exit codes:
  0  success
  1  the host or config has errors, or drift was found
  2  bad usage or bad input (config, snapshot, capture bundle, arguments)
  3  environment: not root, tuned or D-Bus unavailable, a state directory lltune
     cannot trust, standard output that cannot be written (full, closed)"""


class LLTuneError(Exception):
    """Base class: carries the exit code and a one-line message."""

    exit_code = EXIT_FINDINGS

    def __init__(self, message: str):
        # One line, always: messages can embed multi-line text from libraries.
        message = "; ".join(line.strip() for line in message.splitlines() if line.strip())
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(LLTuneError):
    """Bad input: a config, snapshot, capture bundle or argument that cannot be used."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, source: str = "", line: int = 0, column: int = 0,
                 key: str = ""):
        where = source
        if source and line:
            where += ":%d" % line
            if column:
                where += ":%d" % column
        text = message
        if key:
            text = "%s: %s" % (key, text)
        if where:
            text = "%s: %s" % (where, text)
        super().__init__(text)
        self.source = source
        self.line = line
        self.column = column
        self.key = key




class EnvironmentProblem(LLTuneError):
    """The environment cannot do what was asked: not root, tuned or D-Bus missing."""

    exit_code = EXIT_ENVIRONMENT


class HostError(LLTuneError):
    """The host or the config has errors, or drift was found."""

    exit_code = EXIT_FINDINGS
