"""The pure core of Passport: no HTTP, no database, no clock, no randomness (callers pass them in)."""
