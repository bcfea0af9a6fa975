"""Local development and the demo: debug on, embedded database unless DATABASE_URL is set."""

from .base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)  # noqa: F405

if DEBUG:
    # The browsable API is a developer's tool: outside DEBUG the API answers only the JSON its schema documents.
    REST_FRAMEWORK = {
        **REST_FRAMEWORK,  # noqa: F405
        "DEFAULT_RENDERER_CLASSES": [
            *REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],  # noqa: F405
            "rest_framework.renderers.BrowsableAPIRenderer",
        ],
    }

# Password reset mails are printed where runserver runs.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")  # noqa: F405
