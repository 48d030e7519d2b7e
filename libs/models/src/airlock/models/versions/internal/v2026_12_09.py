"""Internal API 2026-12-09: the runs a timetable written in Python lists travel beside the DAG.

``DagMetadata.listed_runs`` is new: for a DAG whose timetable is written in Python, the runs the
DAG processor listed at this parse (they depend on when the file was parsed). The server keeps
them on the DAG's row and the scheduler reads them there, so the serialized DAG, whose hash is
its version, holds only the timetable's class and arguments: parsing again makes no new version.
Older processors send no ``listed_runs``; their blobs still carry the runs, which are used.
"""

from airlock.models.internal import DagMetadata
from airlock.models.versioning import FieldAdded, Version

VERSION = Version(
    "2026-12-09",
    "DagMetadata gains listed_runs: the runs a timetable written in Python listed at this "
    "parse, kept on the DAG's row instead of in the versioned blob.",
    changes=(FieldAdded(DagMetadata, "listed_runs"),),
)
