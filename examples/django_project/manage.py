#!/usr/bin/env python
"""Django's command-line utility for the example project.

Run from the repository root::

    python examples/django_project/manage.py runserver 127.0.0.1:8004 --noreload
    python examples/django_project/manage.py check
    python examples/django_project/manage.py resilience
"""

import os
import sys


def main() -> None:
    """Run a management command with the example's settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
