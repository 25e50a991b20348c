"""Use cases: load, decide through the domain, persist. No HTTP here, and never a commit (the caller owns it)."""
