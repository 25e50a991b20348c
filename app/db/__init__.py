"""Persistence: SQLAlchemy models, engines and the queries that need to be fast."""
