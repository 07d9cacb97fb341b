"""STDF V4 export: a run from the results store as the file yield and characterisation tools ingest.

`stdf_bytes(reader, run_id)` gives the file's bytes; `bringup export RUN --format stdf -o FILE`
writes them. `records` encodes STDF V4 records, `numbering` gives tests their stable numbers,
`writer` maps a run onto parts, tests, bins and summaries.
"""

from bringup.outputs.stdf.numbering import StdfTest, number_tests
from bringup.outputs.stdf.writer import stdf_bytes

__all__ = ["stdf_bytes", "number_tests", "StdfTest"]
