"""The web page of ``mobsim serve``: ``/`` and ``/ui/...`` (docs/web.md).

Server-rendered Jinja2 templates (``templates/``, autoescaped), one stylesheet and a few lines of
JavaScript of our own (``static/``) for what updates without a reload: the live counters and the
segment counts. Every asset is served by the server. The data comes through the inspection API's
own functions, on the store's read path (``views.py``); the guard protects these pages as it does
``/inspect`` (server_stub/guard.py).
"""

from .routes import web_router

__all__ = ["web_router"]
