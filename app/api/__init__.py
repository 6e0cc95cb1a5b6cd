"""The HTTP API and the side panel (FastAPI): create_app builds the app over one KefuService."""

from app.api.app import create_app

__all__ = ["create_app"]
