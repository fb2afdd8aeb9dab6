// Every migration, by name; names sort by date, which is the order they apply in.
import type { Migration } from 'kysely';
import * as initial from './2026_11_28_0001_initial';
import * as checkpointStores from './2026_12_02_0002_checkpoint_stores';
import * as lifecycle from './2026_12_02_0010_lifecycle';
import * as ladders from './2026_12_02_0020_ladders';
import * as provenance from './2026_12_02_0030_provenance';
import * as fitStatus from './2026_12_02_0040_fit_status';

export const migrations: Record<string, Migration> = {
  '2026_11_28_0001_initial': initial,
  '2026_12_02_0002_checkpoint_stores': checkpointStores,
  '2026_12_02_0010_lifecycle': lifecycle,
  '2026_12_02_0020_ladders': ladders,
  '2026_12_02_0030_provenance': provenance,
  '2026_12_02_0040_fit_status': fitStatus,
};
