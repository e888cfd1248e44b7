"""MongoDB access. Owns the documents' shape (docs/architecture.md) and the ObjectId ↔ str
mapping; raises domain errors, never HTTP ones. Every task query filters by its owner.

Writes are safe to retry: the API mints every ``_id`` itself, so a create the driver retried
after it was stored is recognised and answered with the stored document (``insert_once``).
"""

from __future__ import annotations

from reference_api.repository._mongo import DatabaseGuard, Document, insert_once, now_utc
from reference_api.repository.tasks import TaskQuery, TasksRepository
from reference_api.repository.users import UserRecord, UsersRepository

__all__ = [
    "DatabaseGuard",
    "Document",
    "TaskQuery",
    "TasksRepository",
    "UserRecord",
    "UsersRepository",
    "insert_once",
    "now_utc",
]
