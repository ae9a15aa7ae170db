import { Cluster, Redis } from 'ioredis';
import { ConfigError } from './config.js';
import { StoreUnavailableError } from './errors.js';

/** One Redis server, or a Redis Cluster: the stores issue the same commands to either. */
export type RedisClient = Redis | Cluster;

export interface RedisHandle {
  client: RedisClient;
  prefix: string;
  close(): Promise<void>;
}

const CLUSTER_SCHEME = 'redis-cluster://';

/** `redis://…` and `rediss://…` name one server; `redis-cluster://host:port,host:port` a cluster. */
export function isRedisUrl(url: string): boolean {
  return url.startsWith('redis://') || url.startsWith('rediss://') || url.startsWith(CLUSTER_SCHEME);
}

export interface ClusterTarget {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
}

/**
 * `redis-cluster://[user:password@]host:port[,host:port…]`: a few nodes of the cluster to start from;
 * ioredis asks them for the slot map and finds every other node itself.
 */
export function parseClusterUrl(url: string): ClusterTarget {
  const malformed = (why: string) =>
    new ConfigError(`PORTCULLIS_SESSION_STORE: ${why}; write it as redis-cluster://[user:password@]host:port,host:port`);
  const rest = url.slice(CLUSTER_SCHEME.length);
  const at = rest.lastIndexOf('@');
  const [hosts = '', path = ''] = rest.slice(at + 1).split(/\/(.*)/s);
  if (path !== '' && path !== '0') throw malformed('a Redis Cluster has only database 0');
  const nodes = hosts.split(',').map((hostPort) => {
    let parsed: URL;
    try {
      parsed = new URL(`redis://${hostPort}`);
    } catch {
      throw malformed(`"${hostPort}" is not host:port`);
    }
    if (!parsed.hostname || parsed.username || parsed.pathname) throw malformed(`"${hostPort}" is not host:port`);
    return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(parsed.port || 6379) };
  });
  if (at < 0) return { nodes };
  const auth = new URL(`redis://${rest.slice(0, at)}@x`);
  return {
    nodes,
    ...(auth.username ? { username: decodeURIComponent(auth.username) } : {}),
    ...(auth.password ? { password: decodeURIComponent(auth.password) } : {}),
  };
}

const retryDelay = (times: number) => Math.min(100 * times, 1000);

function createClient(url: string, prefix: string): RedisClient {
  const perConnection = { connectTimeout: 3000, maxRetriesPerRequest: 1 };
  if (!url.startsWith(CLUSTER_SCHEME)) {
    return new Redis(url, { ...perConnection, lazyConnect: true, enableOfflineQueue: false, retryStrategy: retryDelay });
  }
  // The hash tag of a key is its first {…}: braces in the prefix would take the place of the per-user tag.
  if (/[{}]/.test(prefix)) throw new ConfigError(`PORTCULLIS_REDIS_PREFIX "${prefix}" must not contain { or } on a Redis Cluster.`);
  const { nodes, username, password } = parseClusterUrl(url);
  return new Cluster(nodes, {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: retryDelay,
    redisOptions: { ...perConnection, ...(username ? { username } : {}), ...(password ? { password } : {}) },
  });
}

function describe(url: string): string {
  if (!url.startsWith(CLUSTER_SCHEME)) return `Redis at ${new URL(url).host}`;
  return `Redis Cluster at ${parseClusterUrl(url).nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
}

/**
 * One ioredis client shared by sessions, throttling and token state: a plain connection, or a Cluster
 * client that routes each command to the node holding its slot. Commands fail at once while the server
 * is away (no offline queue), so requests answer 503 instead of hanging; ioredis keeps reconnecting in
 * the background and service resumes by itself when Redis returns.
 */
export async function connectRedis(url: string, prefix: string): Promise<RedisHandle> {
  const client = createClient(url, prefix);
  // Connection errors surface on commands; the event itself must not crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    throw new StoreUnavailableError(`cannot reach ${describe(url)}: ${(err as Error).message}`, { cause: err });
  }
  return {
    client,
    prefix,
    async close() {
      client.disconnect();
    },
  };
}

/** The servers to visit for a keyspace walk (SCAN sees one node's keys only): every primary of a cluster. */
export function scanTargets(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/**
 * Runs a Redis call, turning "Redis is not there" into StoreUnavailableError (a 503, never a 500). A
 * reply the server gives on purpose (a script error, a wrong type) is a bug and stays one; replies of
 * a server or cluster in transition, and client-side failures such as "Too many Cluster redirections"
 * while a node is down, mean unavailable.
 */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const { name, message = '' } = err as Error;
    const reply = name === 'ReplyError' || /^(ERR|WRONGTYPE) /.test(message);
    if (reply && !/^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK)\b/.test(message)) throw err;
    throw new StoreUnavailableError(`Redis unavailable: ${message}`, { cause: err });
  }
}
