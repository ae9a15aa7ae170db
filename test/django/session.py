"""Django's side of a shared login.

  DJANGO_DB=path python3 session.py login USERNAME PASSWORD   -> prints the new session key
  DJANGO_DB=path python3 session.py whois SESSION_KEY         -> prints get_user()'s username ('' if anonymous)
  DJANGO_DB=path python3 session.py logout SESSION_KEY        -> Django's logout() on that session
  DJANGO_DB=path python3 session.py password USERNAME         -> prints the user's password hash
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import authenticate, get_user, login, logout  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.http import HttpRequest  # noqa: E402


def request_with(session):
    request = HttpRequest()
    request.session = session
    return request


command, arg = sys.argv[1], sys.argv[2]
if command == "login":
    user = authenticate(username=arg, password=sys.argv[3])
    assert user is not None, "Django refused the password"
    request = request_with(SessionStore())
    login(request, user)
    request.session.save()
    print(request.session.session_key)
elif command == "whois":
    user = get_user(request_with(SessionStore(session_key=arg)))
    print("" if user.is_anonymous else user.username)
elif command == "logout":
    request = request_with(SessionStore(session_key=arg))
    request.user = get_user(request)
    logout(request)
elif command == "password":
    print(User.objects.get(username=arg).password)
