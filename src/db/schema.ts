import type { Generated } from 'kysely';

/**
 * Every table portcullis owns. Times are epoch milliseconds and flags are 0/1 integers, so that the
 * same rows read the same on SQLite, PostgreSQL and MySQL.
 */
export interface UserTable {
  id: Generated<number>;
  password: string;
  last_login: number | null;
  is_superuser: number;
  username: string;
  first_name: string;
  last_name: string;
  email: string | null;
  is_staff: number;
  is_active: number;
  date_joined: number;
  // Custom fields declared in the config file (phone by default) are extra columns, read and
  // written by name through UserManager.
}

export interface GroupTable {
  id: Generated<number>;
  name: string;
}

export interface PermissionTable {
  id: Generated<number>;
  name: string;
  app_label: string;
  codename: string;
}

export interface UserGroupTable {
  id: Generated<number>;
  user_id: number;
  group_id: number;
}

export interface GroupPermissionTable {
  id: Generated<number>;
  group_id: number;
  permission_id: number;
}

export interface UserPermissionTable {
  id: Generated<number>;
  user_id: number;
  permission_id: number;
}

export interface SessionTable {
  /** SHA-256 of the session key: a stolen table does not hand out live cookies. */
  key_hash: string;
  /** Shown to the user to name a session; never the key. */
  public_id: string;
  user_id: number | null;
  backend: string | null;
  auth_hash: string | null;
  data: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  persistent: number;
  ip: string | null;
  user_agent: string | null;
}

export interface SigningKeyTable {
  kid: string;
  alg: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  /** Set when a newer key took over; the key stays published until its last tokens expire. */
  retired_at: number | null;
}

export interface RefreshTokenTable {
  /** SHA-256 of the token; the token itself is only ever in the client's hands. */
  token_hash: string;
  /** Every token descended by rotation from one login shares a family, revoked as one on reuse. */
  family_id: string;
  user_id: number;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** Written with the family's, so each row tells what happened to it; the family row decides. */
  revoked_at: number | null;
}

/**
 * One row per token family: the record of its revocation, which every token of the family, even one
 * stored after the revocation, is checked against. It lives as long as its longest-lived token.
 */
export interface RefreshFamilyTable {
  family_id: string;
  user_id: number;
  /** A prefix of the session auth hash the family was issued under (null: issued before 0004). */
  auth_hash: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface ThrottleTable {
  /** Kind and an HMAC of what is counted (IP, account): no address or username is stored. */
  key: string;
  count: number;
  blocked_until: number;
  expires_at: number;
}

/** A login identifier in its normal form (hashed), and the one account it names. */
export interface LoginKeyTable {
  key_hash: string;
  user_id: number;
  field: string;
}

/** The Django row an imported user came from (src/django/origin.ts); none for portcullis's own users. */
export interface UserOriginTable {
  user_id: number;
  source: string;
  django_id: number;
}

export interface MetaTable {
  name: string;
  value: string;
}

export interface Database {
  portcullis_login_key: LoginKeyTable;
  portcullis_meta: MetaTable;
  portcullis_user_origin: UserOriginTable;
  portcullis_throttle: ThrottleTable;
  portcullis_signing_key: SigningKeyTable;
  portcullis_refresh_token: RefreshTokenTable;
  portcullis_refresh_family: RefreshFamilyTable;
  auth_user: UserTable;
  auth_group: GroupTable;
  auth_permission: PermissionTable;
  auth_user_groups: UserGroupTable;
  auth_group_permissions: GroupPermissionTable;
  auth_user_user_permissions: UserPermissionTable;
  portcullis_session: SessionTable;
}
