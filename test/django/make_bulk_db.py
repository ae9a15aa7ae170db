"""Creates a Django database of a few thousand users, mixed as a long-lived Django site's would be.

Usage: DJANGO_DB=path python3 make_bulk_db.py [COUNT]   (default 3000)

The hashes are made by Django's own hashers with the parameters each Django release wrote by
default: an app that started on Django 1.3 and upgraded along the way holds salted SHA-1 from before
1.4, PBKDF2 at every iteration count since (each user keeps the count of the release they last logged
in under), argon2i from 1.10 (without `v=` from 1.10.0), argon2id from 3.2, bcrypt and scrypt from
sites that chose them, and the odd unsalted MD5 from a Django 0.9x import. Some users are inactive,
some have unusable passwords, some are staff; there are groups and permissions, unicode usernames and
a few email addresses shared between accounts (Django allows that). Hashing runs on every core.

Prints one JSON line per user: {"id", "username", "email", "password" (null when unusable), "format",
"active", "staff", "superuser", "joined" (epoch ms)}, then to stderr how many of each format and how
long it took.
"""
import base64
import datetime
import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

import argon2  # noqa: E402
import bcrypt  # noqa: E402
from django.contrib.auth.hashers import (  # noqa: E402
    Argon2PasswordHasher,
    BCryptPasswordHasher,
    BCryptSHA256PasswordHasher,
    check_password,
    get_hasher,
    make_password,
)
from django.contrib.auth.models import Group, Permission, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.utils.crypto import get_random_string  # noqa: E402

started = time.time()
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 3000


class LegacyArgon2iHasher(Argon2PasswordHasher):
    """Django 1.10.1 to 3.1: argon2i, t=2, m=512, p=2, 16-byte hash."""

    time_cost = 2
    memory_cost = 512
    parallelism = 2

    def params(self):
        return argon2.Parameters(type=argon2.low_level.Type.I, version=argon2.low_level.ARGON2_VERSION, salt_len=16,
                                 hash_len=16, time_cost=self.time_cost, memory_cost=self.memory_cost,
                                 parallelism=self.parallelism)


def argon2i_without_version(password):
    """Django 1.10.0 with argon2-cffi < 16.1: Argon2 version 1.0, written without a `v=` field."""
    h = LegacyArgon2iHasher()
    encoded = argon2.low_level.hash_secret(password.encode(), h.salt().encode(), time_cost=2, memory_cost=512,
                                           parallelism=2, hash_len=16, type=argon2.low_level.Type.I, version=0x10)
    return "argon2" + encoded.decode("ascii").replace("$v=16$", "$")


class BCryptSHA256Rounds10(BCryptSHA256PasswordHasher):
    """A site that lowered BCRYPT rounds for its login latency, as Django's docs show how to."""

    rounds = 10


class BCryptRounds10(BCryptPasswordHasher):
    rounds = 10


def bcrypt_sha256_2a(password):
    """bcrypt_sha256 as written with the py-bcrypt of Django 1.6's day: the `$2a$` prefix."""
    h = BCryptSHA256Rounds10()
    return h.encode(password, bcrypt.gensalt(10, prefix=b"2a"))


def pbkdf2(algorithm, iterations, salt_len):
    # Django's salts were 12 characters until 3.1 and 22 since 3.2.
    return lambda p: get_hasher(algorithm).encode(p, get_random_string(salt_len), iterations)


def salted(algorithm, old_salt):
    # Django before 1.4 salted SHA-1/MD5 with 5 hex digits; 1.4 and later with 12 (or 22) characters.
    def make(p):
        salt = hashlib.sha1(os.urandom(8)).hexdigest()[:5] if old_salt else get_random_string(12)
        return get_hasher(algorithm).encode(p, salt)
    return make


# (format label, users, hash function, passwords up to 72 UTF-8 bytes only). PBKDF2 users are weighted
# towards cheap counts so that hashing them here and verifying them at login stays quick.
FORMATS = [
    ("sha1 (Django <= 1.3, 5-hex salt)", 260, salted("sha1", True), False),
    ("sha1 (12-char salt)", 30, salted("sha1", False), False),
    ("md5 (5-hex salt)", 50, salted("md5", True), False),
    ("md5 (12-char salt)", 10, salted("md5", False), False),
    ("unsalted_md5", 50, lambda p: make_password(p, hasher="unsalted_md5"), False),
    ("unsalted_md5 md5$$", 30, lambda p: "md5$$" + make_password(p, hasher="unsalted_md5"), False),
    ("unsalted_sha1 sha1$$", 40, lambda p: make_password(p, hasher="unsalted_sha1"), False),
    ("pbkdf2_sha256 10000 (1.4)", 280, pbkdf2("pbkdf2_sha256", 10000, 12), False),
    ("pbkdf2_sha256 12000 (1.6)", 100, pbkdf2("pbkdf2_sha256", 12000, 12), False),
    ("pbkdf2_sha256 15000 (1.7)", 100, pbkdf2("pbkdf2_sha256", 15000, 12), False),
    ("pbkdf2_sha256 20000 (1.8)", 200, pbkdf2("pbkdf2_sha256", 20000, 12), False),
    ("pbkdf2_sha256 24000 (1.9)", 100, pbkdf2("pbkdf2_sha256", 24000, 12), False),
    ("pbkdf2_sha256 30000 (1.10)", 100, pbkdf2("pbkdf2_sha256", 30000, 12), False),
    ("pbkdf2_sha256 36000 (1.11)", 230, pbkdf2("pbkdf2_sha256", 36000, 12), False),
    ("pbkdf2_sha256 100000 (2.0)", 70, pbkdf2("pbkdf2_sha256", 100000, 12), False),
    ("pbkdf2_sha256 120000 (2.1)", 30, pbkdf2("pbkdf2_sha256", 120000, 12), False),
    ("pbkdf2_sha256 150000 (2.2)", 50, pbkdf2("pbkdf2_sha256", 150000, 12), False),
    ("pbkdf2_sha256 180000 (3.0)", 20, pbkdf2("pbkdf2_sha256", 180000, 12), False),
    ("pbkdf2_sha256 216000 (3.1)", 20, pbkdf2("pbkdf2_sha256", 216000, 12), False),
    ("pbkdf2_sha256 260000 (3.2, make_password)", 40, lambda p: make_password(p, hasher="pbkdf2_sha256"), False),
    ("pbkdf2_sha256 320000 (4.0)", 12, pbkdf2("pbkdf2_sha256", 320000, 22), False),
    ("pbkdf2_sha256 390000 (4.1)", 12, pbkdf2("pbkdf2_sha256", 390000, 22), False),
    ("pbkdf2_sha256 600000 (4.2)", 8, pbkdf2("pbkdf2_sha256", 600000, 22), False),
    ("pbkdf2_sha256 720000 (5.0)", 4, pbkdf2("pbkdf2_sha256", 720000, 22), False),
    ("pbkdf2_sha256 870000 (5.1)", 4, pbkdf2("pbkdf2_sha256", 870000, 22), False),
    ("pbkdf2_sha256 1000000 (5.2)", 4, pbkdf2("pbkdf2_sha256", 1000000, 22), False),
    ("pbkdf2_sha1 10000", 60, pbkdf2("pbkdf2_sha1", 10000, 12), False),
    ("pbkdf2_sha1 20000", 40, pbkdf2("pbkdf2_sha1", 20000, 12), False),
    ("pbkdf2_sha1 36000", 30, pbkdf2("pbkdf2_sha1", 36000, 12), False),
    ("argon2i no v= (1.10.0)", 30, argon2i_without_version, False),
    ("argon2i v=19 m=512,t=2,p=2 (1.10.1-3.1)", 150, lambda p: LegacyArgon2iHasher().encode(p, LegacyArgon2iHasher().salt()), False),
    ("argon2id m=102400,t=2,p=8 (3.2, make_password)", 30, lambda p: make_password(p, hasher="argon2"), False),
    ("bcrypt_sha256 rounds 12 (make_password)", 25, lambda p: make_password(p, hasher="bcrypt_sha256"), False),
    ("bcrypt_sha256 rounds 10", 40, lambda p: BCryptSHA256Rounds10().encode(p, BCryptSHA256Rounds10().salt()), False),
    ("bcrypt_sha256 $2a$ rounds 10", 20, bcrypt_sha256_2a, False),
    ("bcrypt rounds 12 (make_password)", 15, lambda p: make_password(p, hasher="bcrypt"), True),
    ("bcrypt rounds 10", 40, lambda p: BCryptRounds10().encode(p, BCryptRounds10().salt()), True),
    ("scrypt n=2**14,r=8,p=1 (4.0)", 100, lambda p: make_password(p, hasher="scrypt"), False),
]
BY_LABEL = {label: (make, short) for label, _, make, short in FORMATS}
assert sum(n for _, n, _, _ in FORMATS) <= COUNT

FIRST = ["anna", "ben", "chloé", "dmitri", "emma", "françois", "greta", "hiro", "ingrid", "jamal", "zoë", "łukasz",
         "ørjan", "ümit", "søren", "josé", "maría", "nguyễn", "李娜", "张伟", "алексей", "ольга", "محمد", "yusuf",
         "priya", "kenji", "sofía", "noah", "liam", "olivia"]
LAST = ["smith", "müller", "garcía", "rossi", "dubois", "kowalski", "nakamura", "öztürk", "johansson", "ivanov",
        "王", "patel", "silva", "nowak", "o_brien", "van-dijk", "lee", "kim", "novák", "jensen"]
WORDS = ["correct", "horse", "battery", "staple", "sunshine", "dragon", "Mädchen", "crème", "brûlée", "日本語",
         "пароль", "contraseña", "$dollar$", "under_score", "spaced out", "🔑", "tea&biscuits", "x", "Zürich", "42"]


def password_for(rng, short):
    words = rng.sample(WORDS, rng.randint(2, 5))
    p = rng.choice([" ", "-", "", "."]).join(words) + str(rng.randint(0, 9999))
    if rng.random() < 0.05:
        p = unicodedata.normalize("NFD", p)  # decomposed accents: Django never normalises passwords
    if rng.random() < 0.05 and not short:
        p = p * 6  # long passphrases, past bcrypt's 72 bytes where the format allows it
    if short:
        while len(p.encode()) > 72:
            p = p[:-1]
    return p


def hash_one(task):
    label, password = task
    make, _ = BY_LABEL[label]
    return make(password)


def aware(rng, start_year, end_year):
    start = datetime.datetime(start_year, 1, 1, tzinfo=datetime.timezone.utc)
    span = (datetime.datetime(end_year, 1, 1, tzinfo=datetime.timezone.utc) - start).total_seconds()
    return start + datetime.timedelta(seconds=rng.random() * span, microseconds=rng.randrange(1_000_000))


def epoch_ms(dt):
    return (dt - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(milliseconds=1)


def main():
    rng = random.Random(20240601)
    call_command("migrate", verbosity=0)

    # Who is who: a format per user (shuffled, as years of sign-ups and logins mix them), then flags.
    labels = [label for label, n, _, _ in FORMATS for _ in range(n)]
    # The rest of a large COUNT goes to the cheap formats most such databases are full of.
    cheap = ["pbkdf2_sha256 10000 (1.4)", "pbkdf2_sha256 20000 (1.8)", "pbkdf2_sha256 36000 (1.11)", "sha1 (Django <= 1.3, 5-hex salt)"]
    labels += [cheap[i % len(cheap)] for i in range(COUNT - len(labels))]
    rng.shuffle(labels)
    people = []
    next_id = 1
    seen_names = set()
    for i, label in enumerate(labels):
        next_id += 1 if rng.random() > 0.03 else rng.randint(2, 40)  # deleted accounts leave gaps
        first, last = rng.choice(FIRST), rng.choice(LAST)
        style = rng.random()
        if style < 0.15:
            username = f"{first}.{last}{i}@example.org"  # sites that used the email as the username
        elif style < 0.6:
            username = f"{first}.{last}{i}"
        else:
            username = f"{first}{i}"
        username = User.normalize_username(username)
        if i == 1:
            username = "Alice"  # Django's usernames are case-sensitive: Alice and alice are two people
        if i == 2:
            username = "alice"
        assert username not in seen_names
        seen_names.add(username)
        local = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode().strip(".") or "user"
        email = "" if rng.random() < 0.08 else f"{local}.{i}@example.org"
        short = BY_LABEL[label][1]
        person = {
            "id": next_id, "username": username, "email": email, "format": label,
            "password": password_for(rng, short), "active": rng.random() >= 0.05,
            "staff": False, "superuser": False,
        }
        r = rng.random()
        if r < 0.01:
            person["staff"] = person["superuser"] = True
        elif r < 0.04:
            person["staff"] = True
        if rng.random() < 0.025:
            person["password"] = None  # set_unusable_password(); the format it had is gone
            person["format"] = "unusable (Django >= 1.6: '!' + 40 chars)"
        elif rng.random() < 0.005:
            person["password"] = None
            person["format"] = "unusable (Django < 1.6: '!')"
        people.append(person)
    # Django allows two accounts with one mailbox (in any case); portcullis keeps the first one's.
    for victim, owner in zip(range(100, 3000, 250), range(50, 3000, 250)):
        if victim < len(people) and owner < len(people) and people[owner]["email"]:
            people[victim]["email"] = people[owner]["email"].upper() if victim // 250 % 2 else people[owner]["email"]

    tasks = [(p["format"], p["password"]) for p in people if p["password"] is not None]
    connections.close_all()  # the workers are forked: they must not share the parent's SQLite handle
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        hashes = iter(pool.map(hash_one, tasks, chunksize=8))
    checked = set()
    for p in people:
        if p["password"] is None:
            p["hash"] = "!" if p["format"].endswith("'!')") else make_password(None)
            continue
        p["hash"] = next(hashes)
        if p["format"] not in checked:  # Django's own check_password accepts one of each format
            assert check_password(p["password"], p["hash"]), p["format"]
            assert not check_password(p["password"] + "x", p["hash"]), p["format"]
            checked.add(p["format"])

    app_perms = {p.codename: p for p in Permission.objects.filter(content_type__app_label__in=["auth", "sessions"])}
    groups = {
        "editors": ["change_user", "view_user", "view_group"],
        "support": ["view_user", "change_user"],
        "billing": ["view_user"],
        "moderators": ["view_user", "delete_session", "view_session"],
        "admins": ["add_user", "change_user", "delete_user", "view_user", "add_group", "change_group"],
        "readers": [],
    }
    with transaction.atomic():
        made = {}
        for name, codenames in groups.items():
            g = Group.objects.create(name=name)
            g.permissions.add(*[app_perms[c] for c in codenames])
            made[name] = g
        users = []
        for p in people:
            joined = aware(rng, 2008, 2024)
            p["joined"] = epoch_ms(joined)
            users.append(User(
                id=p["id"], username=p["username"], email=p["email"], password=p["hash"],
                first_name=p["username"].split(".")[0][:150].title() if rng.random() < 0.8 else "",
                last_name=rng.choice(LAST).title() if rng.random() < 0.7 else "",
                is_active=p["active"], is_staff=p["staff"], is_superuser=p["superuser"], date_joined=joined,
                last_login=None if rng.random() < 0.2 else aware(rng, 2024, 2025),
            ))
        User.objects.bulk_create(users, batch_size=500)
        Membership = User.groups.through
        Direct = User.user_permissions.through
        memberships, direct = [], []
        names = list(made)
        for p in people:
            for name in rng.sample(names, rng.choice([0, 0, 0, 1, 1, 2, 3])):
                memberships.append(Membership(user_id=p["id"], group_id=made[name].id))
            if rng.random() < 0.05:
                for perm in rng.sample(sorted(app_perms), rng.randint(1, 2)):
                    direct.append(Direct(user_id=p["id"], permission_id=app_perms[perm].id))
        Membership.objects.bulk_create(memberships, batch_size=1000)
        Direct.objects.bulk_create(direct, batch_size=1000)

    for p in people:
        print(json.dumps({k: p[k] for k in ("id", "username", "email", "password", "format", "active", "staff",
                                             "superuser", "joined")}, ensure_ascii=False))
    counts = {}
    for p in people:
        counts[p["format"]] = counts.get(p["format"], 0) + 1
    for label, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{n:5d}  {label}", file=sys.stderr)
    print(f"{len(people)} users, {len(memberships)} group memberships, {len(direct)} direct permissions "
          f"in {time.time() - started:.1f} s on {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
    main()
