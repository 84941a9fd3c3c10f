/**
 * What the integration tier's global setup hands to tests about PostgreSQL through `inject()`.
 *
 * @example
 *   import { inject } from 'vitest';
 *   const db = await createTestDatabase(inject('databaseUrl'), 'alerts');
 */
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL (database `postgres`) of the PostgreSQL server serving this test run. */
    databaseUrl: string;
  }
}

export {};
