"""ASGI entry point; serves the async views.

From the repository root::

    uvicorn --app-dir examples/django_project demo_project.asgi:application \\
        --host 127.0.0.1 --port 8005
"""

import os
import sys
from pathlib import Path

# Also importable as examples.django_project.demo_project.asgi from the
# repository root: the settings module is found next to this package.
PROJECT_DIR = str(Path(__file__).resolve().parents[1])
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
os.environ.setdefault("DEMO_VIEWS", "async")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
