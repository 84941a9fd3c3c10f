/**
 * @fleet/agent: the service on each robot that reads the controller's serial frames, stamps event
 * times, spools to disk and publishes to the fleet's MQTT broker. `fleet-agent` (cli.ts) is its
 * command line; this is the API for embedding and tests.
 */
export * from './agent.js';
export * from './config.js';
export * from './diagnostics.js';
export * from './errors.js';
export { runDoctor, type DoctorOptions, type DoctorResult } from './doctor/index.js';
export { runAgent, type RunOptions } from './main.js';
export { productionDeps } from './deps.js';
export {
  positionFile,
  POSITION_FILE,
  type PositionFileOptions,
  type PositionStore,
} from './ingest/position-file.js';
export type { SerialPosition } from './serial/resume.js';
