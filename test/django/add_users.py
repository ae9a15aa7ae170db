"""Adds users to a Django database through Django's own create_user.

Usage: DJANGO_DB=path python3 add_users.py '[{"username": ..., "email": ..., "password": ...}, ...]'
Prints one JSON line per user: {"id", "username"}.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import get_hasher  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402

get_hasher("pbkdf2_sha256").iterations = 1000  # the format is what matters, not the cost

for spec in json.loads(sys.argv[1]):
    user = User.objects.create_user(spec["username"], spec.get("email", ""), spec["password"])
    print(json.dumps({"id": user.pk, "username": user.username}))
