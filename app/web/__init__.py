"""Server-rendered pages for consumers (and, later, regulators)."""
