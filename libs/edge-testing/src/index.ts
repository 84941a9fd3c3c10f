export * from '@fleet/pty';
