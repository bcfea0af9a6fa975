"""Partner portal, partner API (``/api/v1/me/``) and statements: reads only (ARCHITECTURE.md "Layout")."""
