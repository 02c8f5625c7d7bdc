"""A reference profile server: the Mobile API of both SDK dialects with the People profile rules."""

from .app import create_app
from .errors import ApiError
from .server import DEFAULT_ACCOUNT, ProfileServer, new_application_code
from .store import Store

__all__ = ["DEFAULT_ACCOUNT", "ApiError", "ProfileServer", "Store", "create_app", "new_application_code"]
