/**
 * Entry point of the firmware-sim. Not built yet: issue #3 builds it. Printing that, and exiting 0, is what
 * `npm start` shows until then.
 */
export const status = { component: 'firmware-sim', built: false, issue: 3 } as const;
