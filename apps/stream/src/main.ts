/** The stream application: one instance of a job per process (./cli.ts, in the NestJS shell of ./app.module.ts). */
export const status = { component: 'stream', built: true, issue: 5 } as const;
