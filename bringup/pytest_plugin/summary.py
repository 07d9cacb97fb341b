"""The lines the plugin prints under `bringup` at the end of a pytest session.

Its own module so the collection nodes (which add the lines) and the plugin's hooks (which
print them) share the key without importing each other.
"""

from __future__ import annotations

import pytest

RUNS = pytest.StashKey[list]()  # one summary line per procedure run
