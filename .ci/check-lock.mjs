#!/usr/bin/env node
// Every platform package an @node-rs/* package lists in optionalDependencies must have its own
// entry in package-lock.json, at the version asked for. npm ci installs only what the lock names,
// so a missing entry means no native binding on that platform (and npm ci refuses the lock).
import { readFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'));
const packages = lock.packages ?? {};
const problems = [];
for (const [path, entry] of Object.entries(packages)) {
  if (!/(^|\/)node_modules\/@node-rs\/[^/]+$/.test(path)) continue;
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const found = packages[`${path}/node_modules/${name}`] ?? packages[`node_modules/${name}`];
    if (!found) problems.push(`${path}@${entry.version}: ${name}@${spec} has no entry in package-lock.json`);
    else if (/^\d+\.\d+\.\d+/.test(spec) && found.version !== spec) problems.push(`${path}@${entry.version}: ${name} is locked at ${found.version}, wants ${spec}`);
  }
}
if (problems.length > 0) {
  console.error(`package-lock.json lacks native platform packages:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
