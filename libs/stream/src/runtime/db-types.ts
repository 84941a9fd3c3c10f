/** The pg types this package uses, taken through @fleet/db (which owns the pg dependency). */
import type { createPool, withTransaction } from '@fleet/db';

export type DbPool = ReturnType<typeof createPool>;
export type DbClient = Parameters<Parameters<typeof withTransaction>[1]>[0];
