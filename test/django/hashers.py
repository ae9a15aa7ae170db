"""Django 4.0's ScryptPasswordHasher, verbatim in substance, for the Django 3.2 that Debian ships."""
import base64
import hashlib

from django.contrib.auth.hashers import BasePasswordHasher
from django.utils.crypto import constant_time_compare


class ScryptPasswordHasher(BasePasswordHasher):
    algorithm = "scrypt"
    block_size = 8
    maxmem = 0
    parallelism = 1
    work_factor = 2**14

    def encode(self, password, salt, n=None, r=None, p=None):
        n = n or self.work_factor
        r = r or self.block_size
        p = p or self.parallelism
        hash_ = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=self.maxmem, dklen=64)
        hash_ = base64.b64encode(hash_).decode("ascii").strip()
        return "%s$%d$%s$%d$%d$%s" % (self.algorithm, n, salt, r, p, hash_)

    def decode(self, encoded):
        algorithm, work_factor, salt, block_size, parallelism, hash_ = encoded.split("$", 6)
        return {"algorithm": algorithm, "work_factor": int(work_factor), "salt": salt,
                "block_size": int(block_size), "parallelism": int(parallelism), "hash": hash_}

    def verify(self, password, encoded):
        d = self.decode(encoded)
        encoded_2 = self.encode(password, d["salt"], d["work_factor"], d["block_size"], d["parallelism"])
        return constant_time_compare(encoded, encoded_2)

    def safe_summary(self, encoded):
        return {}
