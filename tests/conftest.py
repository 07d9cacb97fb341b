import sys
from pathlib import Path

# test helper modules (engine_helpers, ...) live beside the tests that use them
for sub in ("bringup", "drivers", "sim_devices"):
    p = Path(__file__).parent / sub
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# pytester's in-process runs (tests of the pytest plugin) put sys.modules back as they found
# it, dropping whatever the inner run imported first. numpy and scipy C extensions cannot be
# loaded twice in one process, so the simulator is imported here, before any snapshot; building
# one sled pulls in what it imports lazily too (the link and memory models, scipy.optimize).
from bringup.core.clock import SimClock  # noqa: E402
from bringup.sim_devices.lab import SimLab  # noqa: E402

SimLab(clock=SimClock())
