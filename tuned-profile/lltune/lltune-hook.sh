#!/bin/sh
# tuned's [script] plugin runs scripts from inside the profile directory (tuned 2.24.1+ refuses
# other paths); the work is done by lltune's hook at its stable path.
exec /usr/libexec/lltune/lltune-hook "$@"
