import { SaltedDigestPasswordHasher } from './md5.js';

export class SHA1PasswordHasher extends SaltedDigestPasswordHasher {
  constructor() {
    super('sha1', 'sha1');
  }
}
