"""The Mobile API wire contract: the one place that defines paths, methods, query flags, headers and
bodies of both SDK dialects. The virtual device builds requests from it; the reference server
parses them against it.
"""

from . import headers, limits, models
from .dialect import Dialect, Platform, encode_query, java_hashmap_order, parse_query_bool
from .endpoints import ENDPOINTS, Endpoint, WireRequest, endpoint
from .errors import INVALID_PARAMETER_CODES, ErrorCode, error_body, status_for
from .formats import app_code_hash, format_date, format_datetime, format_epoch, parse_datetime
from .limits import LimitViolation

__all__ = [
    "ENDPOINTS",
    "INVALID_PARAMETER_CODES",
    "Dialect",
    "Endpoint",
    "ErrorCode",
    "LimitViolation",
    "Platform",
    "WireRequest",
    "app_code_hash",
    "encode_query",
    "endpoint",
    "error_body",
    "format_date",
    "format_datetime",
    "format_epoch",
    "headers",
    "java_hashmap_order",
    "limits",
    "models",
    "parse_datetime",
    "parse_query_bool",
    "status_for",
]
