"""`lltune validate`: measure the isolated CPUs with rt-tests and rtla, judge the result
against a threshold, compare it with an earlier one, and draw it (stdlib SVG)."""
