"""Test settings: the production settings, with a secret key that is only ever used in tests."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)

from mysite.settings import *  # noqa: F403
