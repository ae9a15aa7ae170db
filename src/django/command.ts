import { command, parseCommand, UsageError } from '../cli/commands.js';
import type { PortcullisConfig } from '../config.js';
import type { ImportProgress, ImportSummary } from './import.js';
import type { ImportConflict } from './survey.js';

export const IMPORT_DJANGO = command({
  name: 'import-django',
  summary: 'copy users, groups and permissions from a Django database (their passwords keep working)',
  description:
    'Never replaces a portcullis user it did not import, and lists every conflict; a later run updates the users it imported from the same source.',
  options: {
    from: { type: 'string', value: 'SQLITE_PATH_OR_DATABASE_URL', required: true, help: "the Django database (a SQLite file, postgres://… or mysql://…)" },
    'user-table': { type: 'string', value: 'T', help: 'the user table, if not auth_user (a custom user model)' },
    map: { type: 'string', multiple: true, value: 'COLUMN=FIELD', help: 'import a column of the user table into a portcullis user field' },
    'dry-run': { type: 'boolean', help: 'report what would be imported and every conflict; write nothing' },
    'keep-passwords': { type: 'boolean', help: 'leave the password of a user portcullis already has alone (it may have been upgraded)' },
    'remap-ids': { type: 'boolean', help: 'import users whose id belongs to another portcullis user under new ids' },
    source: { type: 'string', value: 'NAME', help: 'name this Django database, instead of its own identity (needed without migration history)' },
    'batch-size': { type: 'string', value: 'N', help: 'users per transaction (default 1000)' },
  },
});

type ImportDjangoValues = NonNullable<ReturnType<typeof parseCommand<typeof IMPORT_DJANGO.options>>>['values'];

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

const SECTIONS: Array<[ImportConflict['action'], string]> = [
  ['refused', 'Ids that belong to other portcullis users (the import refuses them; --remap-ids imports them under new ids):'],
  ['remapped', 'Imported under a new id, because their Django id belongs to another portcullis user (--remap-ids):'],
  ['skipped', 'Skipped (nothing of theirs written; an account portcullis had is left as it was):'],
];

/** The summary of a run, with every conflict: the same lines for a dry run and a real one. */
export function formatSummary(s: ImportSummary, seconds: number): string {
  const u = s.users;
  const refusedCount = s.conflicts.filter((c) => c.action === 'refused').length;
  const lines = s.refused
    ? [
        `${s.dryRun ? 'Dry run: the import would be refused' : 'Import refused'} (nothing written): ${refusedCount} Django users have an id that belongs to a portcullis user who did not come from them.`,
        'Run again with --remap-ids to import them under new ids (not with PORTCULLIS_SESSION_STORE=django), or move those portcullis users out of the way.',
      ]
    : [
        `${s.dryRun ? 'Dry run (nothing written): ' : ''}${u.imported} users imported, ${u.updated} updated, ${u.unchanged} unchanged, ${u.skipped} skipped in ${seconds.toFixed(1)} s.`,
        `Groups: ${s.groups.imported} imported, ${s.groups.updated} updated. Permissions: ${s.permissions.imported} imported, ${s.permissions.updated} updated.`,
      ];
  lines.push(`Django database: ${s.source} (a later run updates the users it imported from there, and nobody else).`);
  const line = (c: ImportConflict) => `  #${c.djangoId} ${c.username}: ${c.message}`;
  for (const [action, title] of SECTIONS.slice(0, 2)) {
    const list = s.conflicts.filter((c) => c.action === action);
    if (list.length) lines.push(title, ...list.map(line));
  }
  const cleared = s.conflicts.filter((c) => c.action === 'cleared');
  for (const field of [...new Set(cleared.map((c) => c.field!))]) {
    const list = cleared.filter((c) => c.field === field);
    const users = new Set(list.map((c) => c.djangoId)).size;
    lines.push(`${users} users ${s.refused ? 'would be ' : ''}imported without their ${field}, because another account already has it (one identifier names one account):`, ...list.map(line));
  }
  const skipped = s.conflicts.filter((c) => c.action === 'skipped');
  if (skipped.length) lines.push(s.refused ? SECTIONS[2]![1].replace('Skipped', 'Would be skipped') : SECTIONS[2]![1], ...skipped.map(line));
  if (s.unmappedColumns.length) lines.push(`Django columns not imported (map them with --map COLUMN=FIELD): ${s.unmappedColumns.join(', ')}.`);
  return lines.join('\n');
}

/** `portcullis import-django`: returns the process exit code. */
export async function importDjangoCommand(values: ImportDjangoValues, config: PortcullisConfig): Promise<number> {
  if (!values.from) throw new UsageError('import-django needs --from SQLITE_PATH_OR_DATABASE_URL', IMPORT_DJANGO.name);
  const map: Record<string, string> = {};
  for (const pair of values.map ?? []) {
    const [col, field] = pair.split('=');
    if (!col || !field) throw new UsageError(`--map takes COLUMN=FIELD, not "${pair}"`, IMPORT_DJANGO.name);
    map[col] = field;
  }
  const batchSize = Number(values['batch-size'] ?? 1000);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new UsageError('--batch-size takes a positive whole number', IMPORT_DJANGO.name);
  if (values['remap-ids'] && config.sessionStore === 'django') {
    // Django's sessions name users by Django's ids: under another id they would open someone else's account.
    throw new Error('--remap-ids cannot be used with PORTCULLIS_SESSION_STORE=django: the shared sessions name users by their Django ids. Move the conflicting portcullis users out of the way instead (see --dry-run).');
  }
  // Loaded here, not with the command table: `portcullis --help` needs none of it.
  const [{ connectDatabase }, { migrate }, { importDjango }, { openDjangoSource }] = await Promise.all([
    import('../db/connect.js'),
    import('../db/migrate.js'),
    import('./import.js'),
    import('./source.js'),
  ]);
  const source = await openDjangoSource(values.from);
  const handle = connectDatabase(config.databaseUrl);
  try {
    await migrate(handle, config.userFields, config.loginFields);
    const started = Date.now();
    const summary = await importDjango(handle, source, {
      userTable: values['user-table'],
      map,
      userFields: config.userFields,
      loginFields: config.loginFields,
      batchSize,
      dryRun: values['dry-run'],
      keepPasswords: values['keep-passwords'],
      remapIds: values['remap-ids'],
      sourceName: values.source,
      onProgress: process.stderr.isTTY ? progressBar(process.stderr) : undefined,
    });
    console.log(formatSummary(summary, (Date.now() - started) / 1000));
    return summary.refused ? 1 : 0;
  } finally {
    await source.close();
    await handle.close();
  }
}
