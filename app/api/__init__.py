"""HTTP: thin routers, request/response schemas, dependencies, and the one error-to-problem mapping."""
