"""Exit codes: one scheme for the commands that send traffic, ``run``, ``check``, ``demo`` and ``replay``.

==== ================= =====================================================================================
code name              meaning
==== ================= =====================================================================================
0    ``PASSED``        ``run``: the load ran, at least one request was sent and every gate passed.
                       ``check``: every selected check passed or was skipped, and at least one of them ran.
                       ``demo``: every request the target was sent got the answer the reference server gave
                       when the traffic was generated (``--out``: the file was written).
                       ``replay``: every request of the file was sent and got the answer it got in the
                       recording.
1    ``FAILED``        ``run``: a gate (``--max-fail-ratio``, ``--p95-ms``) failed, a request failed, or no
                       request was sent. ``check``: a check failed, or nothing was checked (no check
                       concerned the selected platforms, or every selected check was skipped).
                       ``demo`` and ``replay``: a request could not be sent (a transport error after the
                       preflight passed: the run stops, run it again to resume), an answer's status differs
                       from the recorded one (the summary lists them as *unlike the reference server* /
                       *unlike the recording*), a create answered without a ``pushRegId``, or nothing was
                       sent (a file without requests).
2    ``USAGE``         Bad options (argparse errors included), a remote target without
                       ``--allow-remote-target``, or a target the preflight request finds unreachable, that
                       rejects the app code or that does not answer like the Mobile API. Nothing was sent
                       beyond that one preflight request. Also a checkpoint or file that does not fit the
                       options (``demo``, ``replay``).
3    ``TOOL_FAILED``   ``run``: Locust (or another engine mobsim drives) failed and produced no result.
130  ``INTERRUPTED``   Ctrl-C or SIGTERM: the first asks the command to stop between two requests (two
                       checks for ``check``) and print what it did; ``demo`` and ``replay`` resume when run
                       again with the same options. A second Ctrl-C aborts at once, with the same code.
==== ================= =====================================================================================

When two apply, the interruption wins (130 over 1): the run is incomplete either way, and its summary
still shows the failed requests. ``mobsim violations`` uses 0 (none recorded), 1 (violations recorded)
and 2 (bad options, an unconfirmed remote target, a target that cannot be reached or has no strict mode).
"""

from __future__ import annotations

from typing import Final

__all__ = ["FAILED", "INTERRUPTED", "PASSED", "TOOL_FAILED", "USAGE"]

PASSED: Final = 0
FAILED: Final = 1
USAGE: Final = 2
TOOL_FAILED: Final = 3
INTERRUPTED: Final = 130
