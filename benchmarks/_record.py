"""One results line: the row stamped with the commit and the date, printed
and appended to a JSON-lines file."""

import datetime
import json
from pathlib import Path
import subprocess

ROOT = Path(__file__).resolve().parents[1]


def append(row, out=None):
    """Add ``git_commit`` and ``date`` to ``row``, print it and append it to
    ``out`` (a path, or None to only print)."""
    row["git_commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                                       capture_output=True, text=True).stdout.strip()
    row["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    print(json.dumps(row), flush=True)
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
