"""Local development and the demo: debug on, embedded database unless DATABASE_URL is set."""

from .base import *  # noqa: F403

DEBUG = env.bool("DEBUG", default=True)  # noqa: F405
