import sys
from pathlib import Path

# test helper modules (engine_helpers, ...) live beside the tests that use them
for sub in ("bringup", "drivers", "sim_devices"):
    p = Path(__file__).parent / sub
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
