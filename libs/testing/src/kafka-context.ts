/**
 * What the integration tier's global setup (global-setup.ts) hands to tests through Vitest's
 * `inject()`. Importing this package brings the augmentation into scope:
 *
 * @example
 *   import { inject } from 'vitest';
 *   const brokers = inject('kafkaBrokers').split(',');
 */
import type {} from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap list (`host:port[,host:port]`) of the Kafka broker serving this test run. */
    kafkaBrokers: string;
  }
}

export {};
