"""The OCPP versions the generator speaks, by ``--ocpp-version``."""

from __future__ import annotations

from . import ocpp16, ocpp201
from .common import Dialect

DIALECTS: dict[str, Dialect] = {d.version: d for d in (ocpp16.DIALECT, ocpp201.DIALECT)}
DEFAULT_VERSION = ocpp16.DIALECT.version
