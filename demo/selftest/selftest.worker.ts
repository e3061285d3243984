// The self-test's worker: runs one scenario of scenarios.ts at a time and reports progress.
import * as Comlink from 'comlink';
import { WORKER_SCENARIOS, hasOpfsSyncHandles, type Report, type ScenarioResult, type WorkerScenarioId } from './scenarios.js';

const api = {
  hasOpfsSyncHandles,
  async run(id: WorkerScenarioId, report: Report): Promise<ScenarioResult> {
    return WORKER_SCENARIOS[id](report);
  },
};

export type SelftestWorkerApi = typeof api;
Comlink.expose(api);
