/** What `npm start` reports about the gateway. */
export const status = { component: 'gateway', built: true, issue: 4 } as const;
