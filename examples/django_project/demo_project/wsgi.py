"""WSGI entry point, e.g. for gunicorn with several worker processes::

    gunicorn --chdir examples/django_project -w 2 -b 127.0.0.1:8004 \\
        demo_project.wsgi:application
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")

application = get_wsgi_application()
