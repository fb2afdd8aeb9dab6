// Temporal Worker Versioning (worker deployments, PINNED): every workflow stays on the build
// that started it, and its activities (including training segments on `<queue>.train`) go to
// workers of that same build; a new build only receives new workflows once it is the
// deployment's current version. Needs a server with worker deployments (Temporal >= 1.28;
// the dev server `temporal server start-dev` of CLI >= 1.4 enables them without flags).
import { setTimeout as delay } from 'node:timers/promises';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { deploymentNameOf } from '../domain/provenance';

export function deploymentOptions(taskQueue: string, buildId: string, versioned: boolean): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  if (!versioned) return {};
  return {
    workerDeploymentOptions: {
      version: { deploymentName: deploymentNameOf(taskQueue), buildId },
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'PINNED',
    },
  };
}

/** Registration takes one poll: not worth a line on every start. */
const mineRegistered = (reason: string) => reason !== 'its version is not registered yet' && !/not found|no worker deployment found/i.test(reason);

const seconds = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) + (t.nanos ?? 0) / 1e9 : 0;

/**
 * Makes `buildId` the current version of the queue's deployment, so that new sweeps start on
 * it, unless a newer build already registered (an old host coming back must not take new work
 * back to old code). Retries while the version is not yet registered or lacks a task queue the
 * current version serves (its training slots have not polled yet: setting it current then
 * would strand new runs' segments). Returns how it ended; never throws.
 */
export async function promoteWhenReady(
  connection: NativeConnection,
  o: { namespace: string; taskQueue: string; buildId: string; signal: AbortSignal; log: (m: string) => void; everyMs?: number },
): Promise<'current' | 'newer-build' | 'stopped'> {
  const deploymentName = deploymentNameOf(o.taskQueue);
  let lastReason = '';
  while (!o.signal.aborted) {
    let reason: string;
    try {
      const { workerDeploymentInfo: info, conflictToken } = await connection.workflowService.describeWorkerDeployment({ namespace: o.namespace, deploymentName });
      if (info?.routingConfig?.currentDeploymentVersion?.buildId === o.buildId) return 'current';
      const mine = info?.versionSummaries?.find((v) => v.deploymentVersion?.buildId === o.buildId);
      if (!mine) reason = 'its version is not registered yet';
      else {
        const newer = info?.versionSummaries?.find((v) => v.deploymentVersion?.buildId !== o.buildId && seconds(v.createTime) > seconds(mine.createTime));
        if (newer) {
          o.log(`build ${o.buildId} stays a non-current version of ${deploymentName}: newer build ${newer.deploymentVersion?.buildId} is registered (this worker serves the runs pinned to its build)`);
          return 'newer-build';
        }
        await connection.workflowService.setWorkerDeploymentCurrentVersion({
          namespace: o.namespace,
          deploymentName,
          buildId: o.buildId,
          conflictToken,
          identity: `sparsity-worker ${o.buildId}`,
        });
        return 'current';
      }
    } catch (e) {
      // Stopping: the connection closes under the call in flight; nothing to report.
      if (o.signal.aborted) return 'stopped';
      // NotFound before any worker of the deployment polled; FailedPrecondition while a task
      // queue of the current version has no poller of this build yet.
      reason = (e as Error).message.split('\n')[0];
    }
    if (reason !== lastReason && mineRegistered(reason)) o.log(`build ${o.buildId} not yet current for queue "${o.taskQueue}": ${reason}; retrying`);
    lastReason = reason;
    // Node's abortable timer removes its listener when it fires (one added per loop would pile up).
    await delay(o.everyMs ?? 2000, undefined, { signal: o.signal }).catch(() => undefined);
  }
  return 'stopped';
}
