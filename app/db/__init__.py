"""Persistence: SQLAlchemy models, engines and the queries that need to be fast.

Every table module is imported here, so that ``app.db.models.metadata`` describes the whole schema whichever
module is imported first (the migrations compare against it); the table modules import ``models``, never the
reverse.
"""

from app.db import case_models, epcis_models, models, partner_models, passport_models

__all__ = ["case_models", "epcis_models", "models", "partner_models", "passport_models"]
