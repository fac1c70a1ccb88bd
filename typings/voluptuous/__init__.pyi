# Type stub for mypy only. Home Assistant 2026.x aliases `voluptuous` to `probatio`
# at import time (probatio.compat.install_as_voluptuous), so at run time
# `import voluptuous as vol` is probatio. This stub tells mypy the same.
from probatio import *  # noqa: F403
