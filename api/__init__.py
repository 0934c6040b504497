"""The HTTP layer: a FastAPI app factory and one router per resource.

Thin: parse, authorise, call node/."""
