/** The spool the integration tests run the agent with: the real file spool, in the test's directory. */
import type { AgentDeps } from '../../src/agent.js';
import { openFileSpool } from '../../src/spool/file-spool.js';

export const openTestSpool: AgentDeps['openSpool'] = (options) => openFileSpool(options);
