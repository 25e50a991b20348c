"""Persistence: SQLAlchemy models, engines and the queries that need to be fast.

``app.db.models`` is a package of table modules by aggregate; its ``__init__`` imports them all, so that
``app.db.models.metadata`` describes the whole schema whichever model is imported first (the migrations compare
against it). Importing it here keeps that true for any ``app.db`` import.
"""

from app.db import models

__all__ = ["models"]
