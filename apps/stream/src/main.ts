/**
 * Entry point of the stream. Not built yet: issue #5 builds it. Printing that, and exiting 0, is what
 * `npm start` shows until then.
 */
export const status = { component: 'stream', built: false, issue: 5 } as const;
