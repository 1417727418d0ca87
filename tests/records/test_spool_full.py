"""The disk fills while records are spooled during a database outage.

A real short write: the spool's process runs under a file-size limit (RLIMIT_FSIZE, the
kernel's own refusal, as a full disk refuses) that lets a record in only part way. Before,
the torn part stayed in the file while the process went on; the next record, written and
acknowledged once there was room again, was glued to it, and read back as a torn line: it
was dropped on replay (or the whole spool set aside as corrupt). Now a failed write is cut
back off the file before the error goes up, and the error names the spool file and the
reason (no record content); what was acknowledged is all read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, resource, signal, sys
from pathlib import Path
from carrier.records.spool import Spool

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
path = Path(sys.argv[1])
spool = Spool(path)
spool.append([{"n": 0, "pad": "x" * 100}])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + 50, hard))
try:
    spool.append([{"n": 1, "pad": "x" * 100}])
    error = None
except OSError as exc:
    error = str(exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
spool.append([{"n": 2, "pad": "x" * 100}])  # room again: acknowledged
print(json.dumps({"error": error, "read": [r["n"] for r in Spool(path).read()]}))
"""


def test_a_write_the_disk_refused_leaves_no_torn_record_behind(tmp_path: Path) -> None:
    path = tmp_path / "spool" / "audit.jsonl"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], cwd=REPO, text=True,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["read"] == [0, 2]
    assert got["error"] is not None
    assert "audit.jsonl" in got["error"]
    assert "pad" not in got["error"]
