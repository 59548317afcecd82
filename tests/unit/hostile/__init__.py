"""The hostile corpus: inputs a user, another user or a damaged host can hand lltune, each run
as `python -m lltune` in a scratch directory and checked for its exit code, one line on stderr,
no traceback, no hang and nothing written outside the scratch directory."""
