// `sparsity gc`: delete checkpoint blobs no committed row points to (a worker died between upload
// and commit), older than a grace period, in every store in use.
import { Option, type Command } from 'commander';
import { collectGarbage } from '../activities/collectGarbage';
import { UsageError } from '../domain/errors';
import { StoreRegistry, checkStoreUri } from '../stores';
import type { CommandContext } from './analysisCommands';

/** `30s`, `15m`, `2h`, `1d` → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} must be a duration like 90s, 30m, 2h or 1d (got ${JSON.stringify(text)})`);
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export function registerGcCommand(program: Command, ctx: CommandContext): void {
  program
    .command('gc')
    .description('delete checkpoint blobs that no committed checkpoint points to, older than the grace period (also run at the end of every sweep)')
    .addOption(new Option('--grace <duration>', 'only blobs last written longer ago than this (must exceed the slowest upload + commit)').default('1h'))
    .addOption(new Option('--store <uri...>', 'stores to collect besides those committed rows point into').env('SPARSITY_CHECKPOINT_STORE'))
    .option('--json', 'one line of JSON on stdout')
    .action(async (o: { grace: string; store?: string | string[]; json?: boolean }) => {
      const graceMs = parseDuration(o.grace, '--grace');
      const uris = o.store === undefined ? ['postgres'] : Array.isArray(o.store) ? o.store : [o.store];
      for (const u of uris) await checkStoreUri(u);
      await ctx.withServices({ temporal: false }, async ({ db }) => {
        const stores = new StoreRegistry({ db });
        try {
          const results = await collectGarbage(db, stores, { storeUris: uris, graceMs, log: ctx.err });
          if (o.json) ctx.out(results);
          else for (const r of results) ctx.out(`${r.store}: ${r.deleted} orphan(s) deleted (${r.freedBytes} bytes), ${r.live} live, ${r.examined} examined${r.abortedUploads ? `, ${r.abortedUploads} stale upload(s) aborted` : ''}`);
        } finally {
          await stores.close();
        }
      });
    });
}
