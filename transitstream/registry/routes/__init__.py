"""One router per resource, as in the FastAPI full-stack template."""

from transitstream.registry.routes import compatibility, config, schemas, subjects

ROUTERS = (subjects.router, schemas.router, config.router, compatibility.router)

__all__ = ["ROUTERS"]
