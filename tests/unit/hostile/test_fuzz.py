"""Property-based fuzzing of the snapshot and bundle loaders (fuzz_loaders.py), in a process of
its own whose peak RSS (wait4) must stay under 200 MB: a loader that let a mutant grow would
fail here even when it ends with a clean InputError."""

import json
import os
import subprocess
import sys

from tests.unit.hostile import corpus
from tests.unit.hostile.runner import REPO, environment

EXAMPLES = 120
RSS_LIMIT_MIB = 200.0

HELPER = r"""
import json, os, sys
argv = json.loads(sys.argv[1])
os.chdir(sys.argv[2])
pid = os.posix_spawn(argv[0], argv, json.loads(sys.argv[3]))
_pid, status, usage = os.wait4(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}))
"""


def test_snapshot_and_bundle_loaders_under_fuzzing(tmp_path):
    assets = corpus.build_assets(str(tmp_path / "assets"), large=False)
    work = tmp_path / "work"
    work.mkdir()
    argv = [sys.executable, "-m", "tests.unit.hostile.fuzz_loaders", assets.snapshot,
            assets.bundle, str(work), str(EXAMPLES)]
    env = environment(str(work))
    err = tmp_path / "stderr"
    with open(str(err), "wb") as handle:
        done = subprocess.run([sys.executable, "-S", "-c", HELPER, json.dumps(argv), REPO,
                               json.dumps(env)], stdout=subprocess.PIPE, stderr=handle,
                              timeout=600, check=False)
    result = json.loads(done.stdout)
    tail = err.read_text(errors="replace")[-3000:]
    assert result["code"] == 0, tail
    assert result["maxrss_kib"] / 1024.0 < RSS_LIMIT_MIB, result
    assert os.path.isdir(str(work))
