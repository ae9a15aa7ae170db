/**
 * The load generator, in its own process so its CPU use is not charged to the server's event loop.
 * Usage: load.ts '<JSON LoadSpec>'; prints one JSON line: a Sample.
 *
 * wrk (C, Debian package `wrk`) drives every timed run when it is installed: on a two-core machine the
 * generator shares the CPU with the server, and autocannon spends about 30 µs of CPU per request, as
 * much as the server under test; wrk spends about 5. Both saturate a bare Fastify route at the same
 * rate here, so the baselines do not move; what changes is the figure where a third party (the
 * hasher thread) wants the CPU too. autocannon remains for runs cut short by `amount` (wrk cannot
 * end a run before its duration) and when wrk is absent or BENCH_LOADGEN=autocannon asks for it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { loadGenerator, type Sample } from './common.js';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  /** Seconds. */
  duration: number;
  /**
   * A file with one value per line; request n sends line n (round robin) as its `Cookie` header or as
   * its body. Many distinct sessions or accounts, without squeezing them into a command line.
   */
  variants?: { file: string; as: 'cookie' | 'body' };
  /** Stop after this many requests instead of after `duration` (e.g. each session exactly once). */
  amount?: number;
}

async function withAutocannon(spec: LoadSpec): Promise<Sample> {
  let requests: autocannon.Request[] | undefined;
  if (spec.variants) {
    const lines = readVariants(spec.variants.file);
    const as = spec.variants.as;
    let next = 0;
    requests = [
      {
        setupRequest(req) {
          const line = lines[next++ % lines.length]!;
          return as === 'cookie' ? { ...req, headers: { ...req.headers, cookie: line } } : { ...req, body: line };
        },
      },
    ];
  }
  const result = await autocannon({
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: spec.headers,
    body: spec.body,
    connections: spec.connections,
    duration: spec.duration,
    amount: spec.amount,
    requests,
    pipelining: 1,
  });
  return {
    // autocannon's mean of per-second counts; it includes non-2xx answers, which fail the figure anyway.
    // A run cut short by `amount` ends mid-second, so there the total over the elapsed time is fairer.
    rps: spec.amount ? result.requests.total / Math.max(result.duration, 0.001) : result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
  };
}

function readVariants(file: string): string[] {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  if (!lines.length) throw new Error(`${file} is empty`);
  return lines;
}

/** A Lua string literal for any text (wrk's scripts are Lua 5.1 / LuaJIT). */
const lua = (s: string) => `"${[...Buffer.from(s, 'utf8')].map((b) => `\\${b}`).join('')}"`;

/**
 * The wrk script: the method, headers and body of the spec; with variants, every request formatted
 * once in init() and sent round robin. There is no response() callback, so wrk never hands a
 * response to Lua: status >= 400 is counted by wrk itself (errors.status). done() prints one line.
 */
function wrkScript(spec: LoadSpec): string {
  const headers = Object.entries(spec.headers ?? {}).map(([k, v]) => `[${lua(k)}] = ${lua(v)}`);
  const lines = [
    `wrk.method = ${lua(spec.method ?? 'GET')}`,
    `wrk.headers = { ${headers.join(', ')} }`,
    ...(spec.body !== undefined ? [`wrk.body = ${lua(spec.body)}`] : []),
  ];
  if (spec.variants) {
    lines.push(
      'local requests, count, next = {}, 0, 0',
      'function init(args)',
      `  for line in io.lines(${lua(spec.variants.file)}) do`,
      '    if #line > 0 then',
      spec.variants.as === 'cookie'
        ? '      local h = {}; for k, v in pairs(wrk.headers) do h[k] = v end; h["cookie"] = line; count = count + 1; requests[count] = wrk.format(nil, nil, h, nil)'
        : '      count = count + 1; requests[count] = wrk.format(nil, nil, nil, line)',
      '    end',
      '  end',
      'end',
      'function request() next = next % count + 1; return requests[next] end',
    );
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("WRKJSON {\\"requests\\":%d,\\"duration\\":%d,\\"status\\":%d,\\"socket\\":%d,\\"p50\\":%d,\\"p99\\":%d}\\n",',
    '    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))',
    'end',
  );
  return lines.join('\n') + '\n';
}

async function withWrk(spec: LoadSpec): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-wrk-'));
  try {
    const script = join(dir, 'load.lua');
    writeFileSync(script, wrkScript(spec));
    // One thread: at these rates it needs a fraction of one core, and a second would take CPU from the server.
    const args = ['-t1', `-c${spec.connections}`, `-d${spec.duration}s`, '--timeout', '10s', '-s', script, spec.url];
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve, reject) => child.once('error', reject).once('exit', resolve));
    const line = /^WRKJSON (.*)$/m.exec(out)?.[1];
    if (code !== 0 || !line) throw new Error(`wrk exited with ${code}: ${out.slice(0, 300)}`);
    const r = JSON.parse(line) as { requests: number; duration: number; status: number; socket: number; p50: number; p99: number };
    return {
      rps: r.requests / (r.duration / 1e6),
      p50: r.p50 / 1000,
      p99: r.p99 / 1000,
      non2xx: r.status,
      errors: r.socket,
      total: r.requests,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const sample = spec.amount !== undefined || loadGenerator() === 'autocannon' ? await withAutocannon(spec) : await withWrk(spec);
process.stdout.write(JSON.stringify(sample) + '\n');
