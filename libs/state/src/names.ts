import { StateError } from './api.js';

/** Job names become directory names (LevelDB backend): letters, digits, `_`, `-`, `.`; not `.`/`..`. */
const JOB = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,100}$/;

/** `<job>.p<partition>`: the id (and directory name) of one partition of one job. */
export function partitionId(job: string, partition: number): string {
  if (!JOB.test(job))
    throw new StateError('BAD_NAME', `job name ${JSON.stringify(job)} does not match ${JOB}`);
  if (!Number.isInteger(partition) || partition < 0) {
    throw new StateError('BAD_NAME', `partition must be a non-negative integer, got ${partition}`);
  }
  return `${job}.p${partition}`;
}
