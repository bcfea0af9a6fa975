"""Production: fails closed. DATABASE_URL, REDIS_URL and SECRET_KEY must be set (in the environment or ./.env); there
is no embedded database, no eager Celery and no default key here. gunicorn serves, celery worker/beat run jobs."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

REQUIRED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")

_env = environ.Env()
environ.Env.read_env(Path(__file__).resolve().parent.parent.parent / ".env", overwrite=False)
_missing = [name for name in REQUIRED if not _env.str(name, default="").strip()]
if _missing:
    raise ImproperlyConfigured(
        f"Production settings need {', '.join(_missing)} (no embedded database, eager Celery or default secret key "
        "in production): set them in the environment."
    )

from .base import *  # noqa: E402, F403

DEBUG = False
SECRET_KEY = env("SECRET_KEY")  # noqa: F405
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)  # noqa: F405
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)  # noqa: F405
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)  # noqa: F405
