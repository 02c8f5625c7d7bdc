"""Suite-wide settings.

Locust monkey-patches the standard library for gevent when it is imported. The test process also
runs the reference server in threads and asyncio loops, so the patch is skipped here: Locust's
runners and users still work on gevent greenlets, and the tests that need the real thing (headless
runs, distributed mode) start Locust in child processes, where it patches as usual.
"""

import os

os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
