"""The API contract tests' seeded broker and callers (``tests/api/conftest.py``), for the partner API's tests."""

from tests.api.conftest import api_client, master_client, partner_client, seeded  # noqa: F401
