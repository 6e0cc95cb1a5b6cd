"""API fixtures: one fake-embedder service for the session, and apps over it entered through the lifespan."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from tests.api import running


@pytest.fixture
def make_client(fake_index, fake_service):
    """Start an app over the fake index with settings changed, e.g. make_client(api_token="s3cret")."""
    with ExitStack() as stack:

        def make(*, service=None, web_dir=None, **changes) -> TestClient:
            settings = fake_index.model_copy(update=changes)
            chosen = fake_service if service is None else service
            app = create_app(settings, service_factory=lambda settings: chosen, web_dir=web_dir)
            return stack.enter_context(running(app))

        yield make


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
