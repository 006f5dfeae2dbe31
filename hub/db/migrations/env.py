"""Alembic environment: always driven with a live connection from hub.db.migrate."""

from alembic import context

import hub.db.models  # noqa: F401  (registers the core tables on Base.metadata)
import hub.db.models201  # noqa: F401  (the OCPP 2.0.1 core tables)
import hub.db.models_blocks  # noqa: F401  (OCPP blocks: reports, monitors, messages)
import hub.db.models_charging  # noqa: F401  (charging profiles stations hold)
import hub.db.models_console  # noqa: F401  (operator console users)
import hub.db.models_redirects  # noqa: F401  (broker redirects)
import hub.files.models  # noqa: F401  (diagnostics and firmware: uploads, requests)
from hub.db.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `pnc-hub db upgrade` (hub.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
