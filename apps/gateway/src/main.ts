/**
 * Entry point of the gateway. Not built yet: issue #4 builds it. Printing that, and exiting 0, is what
 * `npm start` shows until then.
 */
export const status = { component: 'gateway', built: false, issue: 4 } as const;
