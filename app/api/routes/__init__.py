"""The API's routers: /v1 (behind the token), the health probes, the side panel's page."""

from app.api.routes.pages import pages
from app.api.routes.probes import probes
from app.api.routes.v1 import v1

__all__ = ["pages", "probes", "v1"]
