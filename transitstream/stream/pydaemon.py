"""The Python daemon Spark forks the job's Python workers from: pyspark's own, with pyspark's
archives taken off `sys.path` first (`spark.python.daemon.module`, set by `stream.session`).

Spark puts `pyspark.zip`, py4j's zip and the spark-core jar on the workers' PYTHONPATH, for
machines whose Python lacks pyspark. Ours has the same pyspark installed, so the archives only
cost time: before every task the worker calls `importlib.invalidate_caches()`, and since Python
3.10 each zip importer then re-reads its archive's whole directory (one importer per package
imported from it; the jar lists 5,261 files, pyspark.zip 1,220). py-spy found a worker spending
most of its busy time there; without the archives a stateful task of a 180-row batch took
190-270 ms instead of 300-340. The same modules load from site-packages instead.
"""

from __future__ import annotations

import runpy
import sys


def is_pyspark_archive(entry: str) -> bool:
    """An archive of pyspark's own (under its install folder), as Spark adds them: not a user's
    `--py-files`, which Spark puts in the task's files folder."""
    return ("/pyspark/python/lib/" in entry and ".zip" in entry) or (
        "/pyspark/jars/" in entry and ".jar" in entry
    )


def drop_pyspark_archives() -> list[str]:
    """Take pyspark's archives off sys.path, and their importers out of the cache."""
    dropped = [p for p in sys.path if is_pyspark_archive(p)]
    sys.path[:] = [p for p in sys.path if p not in dropped]
    for key in [k for k in sys.path_importer_cache if is_pyspark_archive(k)]:
        del sys.path_importer_cache[key]
    return dropped


if __name__ == "__main__":
    drop_pyspark_archives()
    runpy.run_module("pyspark.daemon", run_name="__main__", alter_sys=True)
