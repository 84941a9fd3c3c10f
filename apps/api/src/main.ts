/**
 * Entry point of the api. Not built yet: issue #6 builds it. Printing that, and exiting 0, is what
 * `npm start` shows until then.
 */
export const status = { component: 'api', built: false, issue: 6 } as const;
