"""Creates a Django database of users under every default hasher Django has shipped.

Usage: DJANGO_DB=path python3 make_db.py COUNT
Prints one JSON line per user: {"id", "username", "password", "algorithm"} (password null when unusable).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from argon2 import PasswordHasher as Argon2  # noqa: E402
from argon2 import Type  # noqa: E402
from django.contrib.auth.hashers import check_password, get_hasher, make_password  # noqa: E402
from django.contrib.auth.models import Group, Permission, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
import datetime  # noqa: E402

call_command("migrate", verbosity=0)
count = int(sys.argv[1]) if len(sys.argv) > 1 else 100

# Cheap cost parameters keep a few hundred hashes fast; the formats are what matter.
get_hasher("argon2").time_cost = 1
get_hasher("argon2").memory_cost = 64
get_hasher("argon2").parallelism = 1
get_hasher("bcrypt_sha256").rounds = 4
get_hasher("bcrypt").rounds = 4


def argon2i(password):
    # Django before 3.2 wrote argon2i; argon2-cffi's own output carries the same fields.
    return "argon2" + Argon2(time_cost=1, memory_cost=64, parallelism=1, type=Type.I).hash(password)


HASHES = [
    ("pbkdf2_sha256", lambda p: make_password(p, hasher="pbkdf2_sha256")),
    ("pbkdf2_sha256_low", lambda p: get_hasher("pbkdf2_sha256").encode(p, get_hasher("pbkdf2_sha256").salt(), 1000)),
    ("pbkdf2_sha256_high", lambda p: get_hasher("pbkdf2_sha256").encode(p, get_hasher("pbkdf2_sha256").salt(), 400000)),
    ("pbkdf2_sha1", lambda p: get_hasher("pbkdf2_sha1").encode(p, get_hasher("pbkdf2_sha1").salt(), 5000)),
    ("argon2id", lambda p: make_password(p, hasher="argon2")),
    ("argon2i", argon2i),
    ("bcrypt_sha256", lambda p: make_password(p, hasher="bcrypt_sha256")),
    ("bcrypt", lambda p: make_password(p[:72], hasher="bcrypt")),
    ("scrypt", lambda p: get_hasher("scrypt").encode(p, get_hasher("scrypt").salt(), 1024, 8, 1)),
    ("sha1", lambda p: make_password(p, hasher="sha1")),
    ("md5", lambda p: make_password(p, hasher="md5")),
    ("unsalted_sha1", lambda p: make_password(p, hasher="unsalted_sha1")),
    # Django writes a bare 32-digit MD5; even older releases wrote it as md5$$<digest>.
    ("unsalted_md5", lambda p: make_password(p, hasher="unsalted_md5")),
    ("unsalted_md5_prefixed", lambda p: "md5$$" + make_password(p, hasher="unsalted_md5")),
]

editors = Group.objects.create(name="editors")
readers = Group.objects.create(name="readers")
change_user = Permission.objects.get(codename="change_user", content_type__app_label="auth")
view_group = Permission.objects.get(codename="view_group", content_type__app_label="auth")
editors.permissions.add(change_user, view_group)
joined = timezone.make_aware(datetime.datetime(2015, 6, 1, 12, 30, 45, 123456), datetime.timezone.utc)

out = []
with transaction.atomic():
    for i in range(count):
        algorithm, make = HASHES[i % len(HASHES)]
        password = f"old password {i} ünïcode"
        username = f"user{i}"
        user = User(username=username, first_name=f"First{i}", last_name="Last", date_joined=joined,
                    email=f"user{i}@example.com" if i % 7 else "")
        user.password = make(password)
        assert check_password(password, user.password), algorithm
        if i == 3:
            user.set_unusable_password()
            password = None
            algorithm = "unusable"
        if i == 5:
            user.is_active = False
        if i == 6:
            user.is_staff = user.is_superuser = True
            user.last_login = joined
        if i == 8:
            user.email = "user1@EXAMPLE.com"  # Django allows two accounts with one mailbox
        user.save()
        if i % 2 == 0:
            user.groups.add(editors)
        if i % 3 == 0:
            user.groups.add(readers)
        if i % 4 == 0:
            user.user_permissions.add(view_group)
        out.append({"id": user.pk, "username": username, "password": password, "algorithm": algorithm})

# Django's own test vector for the argon2 format before `v=` was written (Django < 1.10.1).
legacy = User(username="argon2_noversion", date_joined=joined)
legacy.password = ("argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg")
assert check_password("secret", legacy.password)
legacy.save()
out.append({"id": legacy.pk, "username": legacy.username, "password": "secret", "algorithm": "argon2i_noversion"})

for row in out:
    print(json.dumps(row))
