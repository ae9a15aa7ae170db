import { parseArgs } from 'node:util';
import type { PortcullisConfig } from '../config.js';
import { connectDatabase } from '../db/connect.js';
import { migrate } from '../db/migrate.js';
import { importDjango, type ImportProgress, type ImportSummary } from './import.js';
import { openDjangoSource } from './source.js';

export const IMPORT_DJANGO_USAGE = `  import-django --from SQLITE_PATH_OR_DATABASE_URL [--user-table T] [--map COLUMN=FIELD]... [--dry-run] [--keep-passwords] [--batch-size N]
                                      copy users, groups and permissions from a Django database (old passwords keep working)
`;

/** A one-line bar redrawn in place on a terminal, at most five times a second. */
function progressBar(stream: NodeJS.WriteStream): (p: ImportProgress) => void {
  const started = Date.now();
  let drawn = 0;
  return ({ done, total }) => {
    const now = Date.now();
    if (now - drawn < 200 && done < total) return;
    drawn = now;
    const share = total ? done / total : 1;
    const width = 30;
    const filled = Math.round(share * width);
    const rate = done / Math.max((now - started) / 1000, 0.001);
    stream.write(
      `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)}% ${done.toLocaleString('en')}/${total.toLocaleString('en')} users · ${Math.round(rate).toLocaleString('en')}/s `,
    );
    if (done >= total) stream.write('\n');
  };
}

export function formatSummary(s: ImportSummary, seconds: number): string {
  const u = s.users;
  const lines = [
    `${s.dryRun ? 'Dry run (nothing written): ' : ''}${u.imported} users imported, ${u.updated} updated, ${u.unchanged} unchanged, ${u.skipped} skipped in ${seconds.toFixed(1)} s.`,
    `Groups: ${s.groups.imported} imported, ${s.groups.updated} updated. Permissions: ${s.permissions.imported} imported, ${s.permissions.updated} updated.`,
  ];
  if (u.withoutEmail) {
    lines.push(`${u.withoutEmail} users imported without their email, because another user already has that address (portcullis allows one account per mailbox):`);
    for (const n of s.emailCleared) lines.push(`  #${n.id} ${n.username}: ${n.reason}`);
    if (u.withoutEmail > s.emailCleared.length) lines.push(`  … and ${u.withoutEmail - s.emailCleared.length} more`);
  }
  if (u.skipped) {
    lines.push('Skipped:');
    for (const n of s.skipped) lines.push(`  #${n.id} ${n.username}: ${n.reason}`);
    if (u.skipped > s.skipped.length) lines.push(`  … and ${u.skipped - s.skipped.length} more`);
  }
  if (s.unmappedColumns.length) lines.push(`Django columns not imported (map them with --map COLUMN=FIELD): ${s.unmappedColumns.join(', ')}.`);
  return lines.join('\n');
}

/** `portcullis import-django`: returns the process exit code. */
export async function importDjangoCommand(args: string[], config: PortcullisConfig): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string' },
      'user-table': { type: 'string' },
      map: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean' },
      'keep-passwords': { type: 'boolean' },
      'batch-size': { type: 'string' },
    },
  });
  if (!values.from) throw new Error('import-django needs --from SQLITE_PATH_OR_DATABASE_URL.');
  const map: Record<string, string> = {};
  for (const pair of values.map ?? []) {
    const [col, field] = pair.split('=');
    if (!col || !field) throw new Error(`--map takes COLUMN=FIELD, not "${pair}".`);
    map[col] = field;
  }
  const batchSize = Number(values['batch-size'] ?? 1000);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new Error('--batch-size takes a positive whole number.');
  const source = await openDjangoSource(values.from);
  const handle = connectDatabase(config.databaseUrl);
  try {
    await migrate(handle, config.userFields, config.loginFields);
    const started = Date.now();
    const summary = await importDjango(handle, source, {
      userTable: values['user-table'],
      map,
      userFields: config.userFields,
      batchSize,
      dryRun: values['dry-run'],
      keepPasswords: values['keep-passwords'],
      onProgress: process.stderr.isTTY ? progressBar(process.stderr) : undefined,
    });
    console.log(formatSummary(summary, (Date.now() - started) / 1000));
    return 0;
  } finally {
    await source.close();
    await handle.close();
  }
}
