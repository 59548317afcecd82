"""The command line: the argument parser, one module per command group, the man page and bash
completion generated from the parser, and main(), the one place errors become exit codes."""
