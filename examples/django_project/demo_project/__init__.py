"""A minimal Django project calling a flaky upstream through named policies."""
