"""The scenarios, one module per family of endings. Importing this package registers them all
(lib.registry.SCENARIOS)."""

from cases import closes, resets, giveups, open_idle, path, stack_timers  # noqa: F401
from cases import distance  # noqa: F401
