import { IMaasApi, MaasApiError } from '../api';
import { EventStream, ISocket } from '../events';
import { MaasModel } from '../model';
import { isAllEndpoints, isJobActive, keyEndpointsText, pushBounded, shortUser, toEndpointView } from '../records';
import {
  ICanaryRollback,
  ICreatedKey,
  IDeployment,
  IDeploymentChanged,
  IDeploymentState,
  IInferenceKey,
  IJob,
  IJobState,
  IJobTraining,
  IMetricPoint,
  IModelSummary,
  IModelVersion,
  IRegistryChanged,
  ITrainBatch,
  ITrainBegin,
  ITrainEnd,
  ITrainEpoch,
  MaasEvent,
  TrainerEvent
} from '../types';

// ---- events as the server sends them (maas_jupyter/events.schema.json), every required field filled ----

let seq = 0;
/** The bus's stamp: increasing "seq", publication time in seconds. */
function stamp(): { seq: number; at: number } {
  seq += 1;
  return { seq, at: 1700000000 + seq };
}

function registryChanged(model: string, change: IRegistryChanged['change']): IRegistryChanged {
  return { type: 'registry.changed', model, change, ...stamp() };
}

/** An endpoint as GET maas/api/deployments/NAME returns it: "ep" serving mnist v1 unless told otherwise. */
function deploymentState(fields: Partial<IDeploymentState> = {}): IDeploymentState {
  const version = fields.version ?? 1;
  const canary = fields.canary ?? null;
  return {
    name: 'ep',
    model: 'mnist',
    version,
    previous_version: null,
    canary,
    max_batch_size: 32,
    max_queue_delay_ms: 2,
    state: 'ready',
    error: null,
    loaded: [
      { version, role: 'primary', ready: true, error: null },
      ...(canary ? [{ version: canary.version, role: 'canary' as const, ready: true, error: null }] : [])
    ],
    created_at: '2026-12-01T05:47:40.348882+00:00',
    updated_at: '2026-12-01T05:47:40.348882+00:00',
    ...fields
  };
}

function deploymentChanged(
  type: IDeploymentChanged['type'],
  deployment: IDeploymentState | null,
  name = 'ep'
): IDeploymentChanged {
  return { type, name: deployment?.name ?? name, deployment, ...stamp() };
}

function canaryRollback(
  endpoint: string,
  canaryVersion: number,
  primaryVersion: number,
  reason: string
): ICanaryRollback {
  return {
    type: 'deployment.canary_rollback',
    endpoint,
    canary_version: canaryVersion,
    primary_version: primaryVersion,
    reason,
    bounds: {
      enabled: true,
      max_failure_rate: 0.05,
      max_p99_ratio: 2,
      min_p99_excess_ms: 5,
      window_s: 60,
      min_requests: 50
    },
    canary: { requests: 120, failure_rate: 0, error_rate: 0, p99_ms: 41, throughput: 2 },
    primary: { requests: 900, failure_rate: 0, error_rate: 0, p99_ms: 10, throughput: 15 },
    ...stamp()
  };
}

function jobState(jobId: number, state: IJobState['state'], reason: string | null = null): IJobState {
  return {
    type: 'job.state',
    job_id: jobId,
    name: 'train-mnist',
    state,
    reason,
    run_id: `run-${jobId}`,
    registered_version: state === 'SUCCEEDED' ? 3 : null,
    ...stamp()
  };
}

function jobTraining(jobId: number, event: TrainerEvent): IJobTraining {
  return { type: 'job.training', job_id: jobId, event, ...stamp() };
}

function trainBegin(): ITrainBegin {
  return {
    type: 'train_begin',
    run_id: 'run-1',
    epochs: 3,
    steps_per_epoch: 2,
    samples: 64,
    batch_size: 32,
    optimizer: 'adam',
    lr: 0.001,
    has_validation: false,
    model_name: 'mnist',
    job_id: 1,
    metrics: ['loss']
  };
}

function trainBatch(globalStep: number, loss: number | null): ITrainBatch {
  return {
    type: 'batch',
    run_id: 'run-1',
    epoch: Math.ceil(globalStep / 2),
    step: ((globalStep - 1) % 2) + 1,
    steps_per_epoch: 2,
    global_step: globalStep,
    loss,
    metrics: { accuracy: 0.5 },
    time: globalStep * 0.1
  };
}

function trainEpoch(epoch: number, loss: number | null): ITrainEpoch {
  return { type: 'epoch', run_id: 'run-1', epoch, logs: { loss, accuracy: 0.9 }, time: epoch * 0.2 };
}

function trainEnd(): ITrainEnd {
  return {
    type: 'train_end',
    run_id: 'run-1',
    status: 'finished',
    epochs_completed: 3,
    steps: 6,
    duration_s: 0.6,
    error: ''
  };
}

/** The routes that answer a list, which a test can make fail. */
type ListCall = 'listModels' | 'listDeployments' | 'listJobs' | 'listKeys' | 'deploymentMetrics';

/** An in-memory server with every area: registry, serving and their metrics, jobs, keys. */
class FakeApi implements IMaasApi {
  models: IModelSummary[] = [{ name: 'mnist', latest_version: 2, version_count: 2, aliases: { production: 1 } }];
  versions: IModelVersion[] = [
    { name: 'mnist', version: 1, aliases: ['production'], metrics: { accuracy: 0.95 } },
    { name: 'mnist', version: 2, aliases: [], metrics: { accuracy: 0.97 }, parent_version: 1 }
  ];
  deployments: IDeployment[] = [];
  jobs: IJob[] = [];
  calls: string[] = [];
  /** Per list route, the error it answers instead of its list while it is set. */
  failing: Partial<Record<ListCall, Error>> = {};
  private _answer(route: ListCall): void {
    const error = this.failing[route];
    if (error) {
      throw error;
    }
  }

  async info() {
    return { version: '0.1.0' };
  }
  async listModels() {
    this.calls.push('listModels');
    this._answer('listModels');
    return this.models;
  }
  async listVersions(model: string) {
    this.calls.push(`listVersions ${model}`);
    return this.versions.filter(v => v.name === model);
  }
  async setAlias(model: string, alias: string, version: number) {
    this.calls.push(`setAlias ${model} ${alias} ${version}`);
    this.models[0].aliases[alias] = version;
    return {};
  }
  async deleteAlias() {}
  async listDeployments() {
    this.calls.push('listDeployments');
    this._answer('listDeployments');
    return this.deployments;
  }
  async deploy(endpoint: string, model: string, version: string) {
    this.calls.push(`deploy ${endpoint} ${model} ${version}`);
    const existing = this.deployments.find(d => d.name === endpoint);
    const d: IDeployment = {
      name: endpoint,
      model,
      version: Number(version),
      state: 'ready',
      previous_version: existing ? existing.version : null,
      canary: null
    };
    this.deployments = [...this.deployments.filter(x => x.name !== endpoint), d];
    return d;
  }
  async canary(endpoint: string, model: string, version: string, weight: number) {
    const d = this.deployments.find(x => x.name === endpoint)!;
    const next = { ...d, canary: { version: Number(version), weight } };
    this.deployments = [next];
    return next;
  }
  async promote(): Promise<IDeployment> {
    throw new MaasApiError(409, 'conflict', "endpoint 'ep' has no canary to promote");
  }
  async rollback(endpoint: string) {
    const d = this.deployments.find(x => x.name === endpoint)!;
    const back = { ...d, version: d.previous_version, previous_version: d.version };
    this.deployments = [back];
    return back;
  }
  async undeploy(endpoint: string) {
    this.deployments = this.deployments.filter(d => d.name !== endpoint);
  }
  /** Per endpoint, the points its metrics route answers. */
  metrics: Record<string, IMetricPoint[]> = {};
  async deploymentMetrics(endpoint: string) {
    this.calls.push(`metrics ${endpoint}`);
    this._answer('deploymentMetrics');
    return this.metrics[endpoint] ?? [];
  }
  async listJobs() {
    this.calls.push('listJobs');
    this._answer('listJobs');
    return this.jobs;
  }
  /** What each job's events route answers: the trainer events it has streamed so far. */
  jobHistory: Record<string, TrainerEvent[]> = {};
  async jobEvents(id: string) {
    return (this.jobHistory[id] ?? []).map(event => ({ ...event }));
  }
  async cancelJob(id: string) {
    this.calls.push(`cancel ${id}`);
    return {};
  }
  eventsUrl() {
    return 'ws://h/maas/api/events';
  }
  inferUrl(endpoint: string) {
    return `http://h/maas/v2/models/${endpoint}/infer`;
  }

  // Inference keys as maas/api/keys keeps them: rows, the key itself only in the answer to a creation.
  keyRows: IInferenceKey[] = [];
  private _keySerial = 0;
  async listKeys() {
    this.calls.push('listKeys');
    this._answer('listKeys');
    // A listing comes back from SQLite without the UTC offset.
    return this.keyRows.filter(k => k.active).map(k => ({ ...k, created_at: k.created_at.replace('+00:00', '') }));
  }
  async createKey(endpoints: string[] | '*', description: string): Promise<ICreatedKey> {
    this.calls.push(`createKey ${JSON.stringify(endpoints)}`);
    const names = endpoints === '*' ? ['*'] : endpoints;
    if (names.length === 0) {
      throw new MaasApiError(400, 'invalid_input', 'name the endpoints the key may call (or "*" for all)');
    }
    const id = ++this._keySerial;
    const key = `maasik_${String(id).repeat(5)}x-${'Q'.repeat(32)}`;
    const row: IInferenceKey = {
      id,
      prefix: key.slice(0, 12),
      endpoints: names.includes('*') ? ['*'] : [...names].sort(),
      description,
      created_by: 'alice',
      created_at: '2026-12-01T05:47:40.348882+00:00',
      revoked_by: null,
      revoked_at: null,
      last_used_at: null,
      active: true
    };
    this.keyRows.push(row);
    return { ...row, key };
  }
  async revokeKey(id: number, reason = '') {
    this.calls.push(`revokeKey ${id} ${reason}`);
    const row = this.keyRows.find(k => k.id === id);
    if (!row) {
      throw new MaasApiError(404, 'not_found', `inference key ${id} does not exist`);
    }
    row.active = false;
    row.revoked_by = 'alice';
    row.revoked_at = '2026-12-01T06:00:00.000001+00:00';
    return { ...row };
  }
}

class FakeSocket implements ISocket {
  onopen: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  close(): void {}
  /** An event as the server sends it: one JSON text message. */
  send(event: MaasEvent): void {
    this.sendRaw(JSON.stringify(event));
  }
  /** Any text at all: what a newer server might send. */
  sendRaw(data: string): void {
    this.onmessage?.({ data });
  }
}

function setup() {
  const api = new FakeApi();
  const sockets: FakeSocket[] = [];
  const stream = new EventStream({
    url: () => api.eventsUrl(),
    socketFactory: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    }
  });
  const model = new MaasModel(api, stream, { fallbackRefreshMs: 15000, metricsPollMs: 5000 });
  let changes = 0;
  model.changed.connect(() => changes++);
  return { api, model, sockets, changes: () => changes };
}

/** Let pending promise callbacks run (fake timers do not advance them). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await Promise.resolve();
  }
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('MaasModel', () => {
  it('loads every area, each loading until its first answer', async () => {
    const { model, api, changes } = setup();
    api.jobs = [{ id: 1, name: 'train-mnist', state: 'RUNNING' }];
    expect(model.loaded).toEqual({ models: false, deployments: false, jobs: false, keys: false });
    await model.start();
    expect(model.models.map(m => m.name)).toEqual(['mnist']);
    expect(model.jobs.map(j => j.name)).toEqual(['train-mnist']);
    expect(model.loaded).toEqual({ models: true, deployments: true, jobs: true, keys: true });
    expect(model.errors).toEqual({});
    expect(changes()).toBeGreaterThan(0);
    model.dispose();
  });

  it('shows why an area failed to load, a 404 as any other answer, and loads the others', async () => {
    const { model, api } = setup();
    api.jobs = [{ id: 1, name: 'train-mnist', state: 'RUNNING' }];
    await api.createKey('*', '');
    api.failing.listJobs = new MaasApiError(503, 'unavailable', 'the job store is not open yet');
    api.failing.listDeployments = new MaasApiError(404, 'not_found', 'no such route: GET /maas/api/deployments');
    await model.start();
    expect(model.errors).toEqual({
      jobs: 'the job store is not open yet',
      deployments: 'no such route: GET /maas/api/deployments'
    });
    expect(model.loaded).toEqual({ models: true, deployments: false, jobs: false, keys: true });
    expect([model.models.length, model.keys.length, model.jobs.length, model.endpoints.length]).toEqual([1, 1, 0, 0]);
    model.dispose();
  });

  it("clears an area's error once a later load succeeds, and keeps its rows through a failed reload", async () => {
    const { model, api, sockets } = setup();
    api.failing.listJobs = new MaasApiError(500, 'internal', 'database is locked');
    await model.start();
    sockets[0].onopen?.({});
    expect([model.loaded.jobs, model.errors.jobs]).toEqual([false, 'database is locked']);

    // A job's event reloads the list: the server answers now.
    delete api.failing.listJobs;
    api.jobs = [{ id: 1, name: 'train-mnist', state: 'RUNNING' }];
    sockets[0].send(jobState(1, 'RUNNING'));
    jest.advanceTimersByTime(200);
    await settle();
    expect([model.loaded.jobs, model.errors.jobs, model.jobs.map(j => j.id)]).toEqual([true, undefined, ['1']]);

    // A reload that fails shows why beside the rows last loaded.
    api.failing.listJobs = new MaasApiError(404, 'not_found', 'no such route: GET /maas/api/jobs');
    await model.refreshJobs();
    expect([model.loaded.jobs, model.errors.jobs, model.jobs.map(j => j.id)]).toEqual([
      true,
      'no such route: GET /maas/api/jobs',
      ['1']
    ]);
    delete api.failing.listJobs;
    await model.refreshJobs();
    expect(model.errors).toEqual({});
    model.dispose();
  });

  it('loads versions on expand, newest first, and forgets them on collapse', async () => {
    const { model } = setup();
    await model.start();
    await model.toggle('mnist');
    expect(model.expanded.has('mnist')).toBe(true);
    expect(model.versions.get('mnist')!.map(v => v.version)).toEqual([2, 1]);
    await model.toggle('mnist');
    expect(model.expanded.has('mnist')).toBe(false);
    model.dispose();
  });

  it('deploys, shows which version serves, and rolls back to the earlier one', async () => {
    const { model, api } = setup();
    await model.start();
    await model.deploy('ep', 'mnist', '1');
    expect(model.endpoints.map(e => [e.name, e.primary, e.state])).toEqual([['ep', '1', 'ready']]);
    expect(model.servingEndpoints('mnist', 1)).toEqual(['ep']);
    await model.deploy('ep', 'mnist', '2');
    expect(model.endpoints[0].primary).toBe('2');
    expect(model.endpoints[0].previous).toBe('1');
    await model.rollback('ep');
    expect(model.endpoints[0].primary).toBe('1');
    expect(model.servingEndpoints('mnist', 2)).toEqual([]);
    expect(api.calls).toContain('deploy ep mnist 2');
    await model.undeploy('ep');
    expect(model.endpoints).toEqual([]);
    model.dispose();
  });

  it('starts a canary with its weight', async () => {
    const { model } = setup();
    await model.start();
    await model.deploy('ep', 'mnist', '1');
    await model.canary('ep', 'mnist', '2', 25);
    expect(model.endpoints[0]).toMatchObject({ primary: '1', canary: { version: '2', weight: 25 } });
    expect(model.servingEndpoints('mnist', 2)).toEqual(['ep']);
    model.dispose();
  });

  it('passes the server reason of a failed action to the caller', async () => {
    const { model } = setup();
    await model.start();
    await expect(model.promote('ep')).rejects.toThrow("endpoint 'ep' has no canary to promote");
    model.dispose();
  });

  it('reloads only the area an event names, once per burst', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    sockets[0].onopen?.({});
    api.calls = [];
    // Deployed elsewhere, then swapped four times: the list, reloaded once, shows where the burst ended.
    api.deployments = [{ ...deploymentState({ version: 5, previous_version: 4 }) }];
    sockets[0].send(deploymentChanged('deployment.deploy', deploymentState({ version: 1 })));
    for (let version = 2; version <= 5; version++) {
      sockets[0].send(
        deploymentChanged('deployment.swap', deploymentState({ version, previous_version: version - 1 }))
      );
    }
    jest.advanceTimersByTime(200);
    await settle();
    // An endpoint came: the keys list, which says which of a key's endpoints are deployed, follows.
    expect(api.calls.sort()).toEqual(['listDeployments', 'listKeys']);
    expect(model.endpoints.map(e => [e.name, e.primary, e.previous])).toEqual([['ep', '5', '4']]);

    api.calls = [];
    sockets[0].send(registryChanged('mnist', 'updated'));
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listModels']);
    model.dispose();
  });

  it('shows a model another process registered, and its alias, from registry.changed alone', async () => {
    const { model, api, sockets } = setup();
    api.models = [];
    await model.start();
    sockets[0].onopen?.({});
    expect(model.models).toEqual([]);

    // A kernel registers `churn` with `staging` on v1: the server publishes exactly this.
    api.models = [{ name: 'churn', latest_version: 1, version_count: 1, aliases: { staging: 1 } }];
    api.calls = [];
    sockets[0].send(registryChanged('churn', 'created'));
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listModels']);
    expect(model.models).toEqual(api.models);

    // v2 and the alias moved onto it: one reload for the burst of two events.
    api.models = [{ name: 'churn', latest_version: 2, version_count: 2, aliases: { staging: 2 } }];
    api.calls = [];
    sockets[0].send(registryChanged('churn', 'updated'));
    sockets[0].send(registryChanged('churn', 'updated'));
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listModels']);
    expect(model.models[0]).toMatchObject({ version_count: 2, aliases: { staging: 2 } });
    model.dispose();
  });

  it('reloads the versions of an open model on its registry.changed, not of a closed one', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    await model.toggle('mnist');
    api.versions = [...api.versions, { name: 'mnist', version: 3, aliases: ['staging'] }];
    api.calls = [];
    sockets[0].send(registryChanged('mnist', 'updated'));
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls.sort()).toEqual(['listModels', 'listVersions mnist']);
    expect(model.versions.get('mnist')!.map(v => [v.version, v.aliases])).toEqual([
      [3, ['staging']],
      [2, []],
      [1, ['production']]
    ]);

    api.calls = [];
    sockets[0].send(registryChanged('other', 'created'));
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listModels']);
    model.dispose();
  });

  it('closes a model deleted elsewhere', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    await model.toggle('mnist');
    api.models = [];
    api.versions = [];
    api.calls = [];
    sockets[0].send(registryChanged('mnist', 'deleted'));
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listModels']);
    expect(model.models).toEqual([]);
    expect(model.expanded.has('mnist')).toBe(false);
    expect(model.versions.has('mnist')).toBe(false);
    model.dispose();
  });

  it('keeps the newest models list when an older answer arrives last', async () => {
    const { model, api } = setup();
    await model.start();
    const answers: Array<(list: IModelSummary[]) => void> = [];
    api.listModels = () => new Promise<IModelSummary[]>(resolve => answers.push(resolve));
    const older = model.refreshModels();
    const newer = model.refreshModels();
    answers[1]([{ name: 'mnist', latest_version: 3, version_count: 3, aliases: { production: 3 } }]);
    await newer;
    answers[0]([{ name: 'mnist', latest_version: 2, version_count: 2, aliases: { production: 1 } }]);
    await older;
    expect(model.models[0].version_count).toBe(3);
    model.dispose();
  });

  it('applies a deployment carried by an event at once, and drops an undeployed endpoint at once', async () => {
    const { model, sockets } = setup();
    await model.start();
    const canary = deploymentState({ version: 2, canary: { version: 3, weight: 10 } });
    sockets[0].send(deploymentChanged('deployment.canary', canary));
    expect(model.endpoints).toHaveLength(1);
    expect(model.endpoints[0]).toMatchObject({
      name: 'ep',
      model: 'mnist',
      primary: '2',
      canary: { version: '3', weight: 10 }
    });
    const unloaded = deploymentState({ version: 2, state: 'unloaded', loaded: [] });
    sockets[0].send(deploymentChanged('deployment.unload', unloaded));
    expect(model.endpoints[0]).toMatchObject({ name: 'ep', state: 'unloaded', canary: null });
    sockets[0].send(deploymentChanged('deployment.undeploy', null, 'ep'));
    expect(model.endpoints).toEqual([]);
    model.dispose();
  });

  it('tells of an automatic canary rollback and reloads the endpoint', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    const notices: string[] = [];
    model.notice.connect((_, n) => notices.push(`${n.kind}: ${n.message}`));
    api.calls = [];
    sockets[0].send(canaryRollback('ep', 2, 1, 'canary version 2 broke its bounds: p99 4.1x the primary'));
    expect(notices).toEqual([
      'warning: "ep": canary version 2 broke its bounds: p99 4.1x the primary; traffic is back on v1'
    ]);
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listDeployments']);
    model.dispose();
  });

  it('tells of a version that could not be loaded and reloads the endpoints; a load under way changes nothing', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    sockets[0].onopen?.({});
    const notices: string[] = [];
    model.notice.connect((_, n) => notices.push(`${n.kind}: ${n.message}`));
    let changed = 0;
    model.changed.connect(() => changed++);
    api.calls = [];
    sockets[0].send({ type: 'deployment.loading', model: 'mnist', version: 3, ...stamp() });
    jest.advanceTimersByTime(200);
    await settle();
    expect([notices, api.calls, changed]).toEqual([[], [], 0]);

    sockets[0].send({
      type: 'deployment.load_failed',
      model: 'mnist',
      version: 3,
      error: 'the ONNX file is corrupt: bad magic number',
      ...stamp()
    });
    expect(notices).toEqual(['error: mnist v3 could not be loaded: the ONNX file is corrupt: bad magic number']);
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listDeployments']);
    model.dispose();
  });

  it('ignores kinds of event it does not know, such as a newer server may send', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    sockets[0].onopen?.({});
    await model.deploy('ep', 'mnist', '1');
    jest.advanceTimersByTime(200);
    await settle();
    const before = JSON.stringify(model.endpoints);
    let changed = 0;
    model.changed.connect(() => changed++);
    api.calls = [];
    const newer = { type: 'deployment.scaled', name: 'ep', replicas: 3, seq: 90, at: 1700000090 };
    sockets[0].sendRaw(JSON.stringify(newer));
    sockets[0].sendRaw(JSON.stringify({ type: 'metrics', endpoint: 'ep', throughput: 120, p99_ms: 4.5 }));
    jest.advanceTimersByTime(200);
    await settle();
    expect([api.calls, changed, JSON.stringify(model.endpoints)]).toEqual([[], 0, before]);
    model.dispose();
  });

  it('draws the endpoint sparklines from the metrics route, polled while endpoints exist', async () => {
    const { model, api, sockets } = setup();
    api.metrics = {
      ep: [
        { t: 1, throughput: 120, p99: 4.5 },
        { t: 2, throughput: 130, p99: null }
      ]
    };
    await model.start();
    sockets[0].onopen?.({});
    await model.deploy('ep', 'mnist', '1');
    jest.advanceTimersByTime(200); // the keys reload a new endpoint brings
    await settle();
    api.calls = [];
    jest.advanceTimersByTime(5000);
    await settle();
    expect(api.calls).toEqual(['metrics ep']);
    expect(model.endpoints[0].throughput).toEqual([120, 130]);
    expect(model.endpoints[0].p99).toEqual([4.5]); // a second without requests has no latency

    api.metrics.ep = [...api.metrics.ep, { t: 3, throughput: 90, p99: 6 }];
    jest.advanceTimersByTime(5000);
    await settle();
    expect(api.calls).toEqual(['metrics ep', 'metrics ep']); // one poll per period
    expect(model.endpoints[0].throughput).toEqual([120, 130, 90]);
    expect(model.endpoints[0].p99).toEqual([4.5, 6]);
    model.dispose();
  });

  it('goes on polling the metrics through failed answers, a 404 as any other, while endpoints exist', async () => {
    const { model, api, sockets } = setup();
    api.failing.deploymentMetrics = new MaasApiError(404, 'not_found', 'no such route: GET /maas/api/x');
    await model.start();
    sockets[0].onopen?.({});
    api.calls = [];
    jest.advanceTimersByTime(5000);
    await settle();
    expect(api.calls).toEqual([]); // no endpoint: nothing to ask

    await model.deploy('ep', 'mnist', '1');
    jest.advanceTimersByTime(200);
    await settle();
    api.calls = [];
    jest.advanceTimersByTime(5000);
    await settle();
    expect(api.calls).toEqual(['metrics ep']);
    expect(model.endpoints[0].throughput).toEqual([]);

    delete api.failing.deploymentMetrics;
    api.metrics = { ep: [{ t: 1, throughput: 40, p99: 3 }] };
    jest.advanceTimersByTime(5000);
    await settle();
    expect(api.calls).toEqual(['metrics ep', 'metrics ep']);
    expect([model.endpoints[0].throughput, model.endpoints[0].p99]).toEqual([[40], [3]]);
    model.dispose();
  });

  it.each([
    ['a number', 1],
    ['text', '1']
  ])('tracks job state and live loss from job events (the list gives the id as %s)', async (_how, id) => {
    const { model, api, sockets } = setup();
    api.jobs = [{ id, name: 'train-mnist', state: 'RUNNING' }];
    await model.start();
    expect(model.loaded.jobs).toBe(true);
    sockets[0].send(jobTraining(1, trainBegin()));
    sockets[0].send(jobTraining(1, trainBatch(1, 2.3)));
    sockets[0].send(jobTraining(1, trainBatch(2, null))); // a NaN loss: no point
    sockets[0].send(jobTraining(1, trainBatch(3, 1.1)));
    sockets[0].send(jobTraining(1, trainEpoch(1, 1.5))); // batch losses already shown: one curve
    expect(model.jobs[0].loss).toEqual([2.3, 1.1]);
    sockets[0].send(jobState(1, 'CANCELLED', 'cancelled'));
    expect(model.jobs[0].state).toBe('CANCELLED');
    expect(model.jobs[0].error).toBeNull();
    expect(isJobActive(model.jobs[0].state)).toBe(false);
    await model.cancelJob('1');
    expect(api.calls).toContain('cancel 1');
    model.dispose();
  });

  it("follows job.training events and starts a late-opened curve from the job's past events", async () => {
    const { model, api, sockets } = setup();
    api.jobs = [{ id: 2, name: 'train', state: 'RUNNING' }];
    api.jobHistory['2'] = [trainBegin(), trainEpoch(1, 0.9)];
    await model.start();
    await settle();
    expect(model.jobs[0].loss).toEqual([0.9]);
    sockets[0].onopen?.({});
    api.calls = [];
    sockets[0].send(jobTraining(2, trainEpoch(2, 0.5)));
    expect(model.jobs[0].loss).toEqual([0.9, 0.5]);
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual([]); // a point of the curve: nothing to reload

    sockets[0].send(jobTraining(2, trainEnd()));
    api.jobs = [{ id: 2, name: 'train', state: 'SUCCEEDED', registered_version: 3 }];
    sockets[0].send(jobState(2, 'SUCCEEDED', ''));
    expect(model.jobs[0].state).toBe('SUCCEEDED');
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listJobs']); // once for the burst: the row has the version it registered
    expect(model.jobs[0]).toMatchObject({ state: 'SUCCEEDED', loss: [0.9, 0.5], raw: { registered_version: 3 } });
    model.dispose();
  });

  it('shows why a job failed, and loads a job it has not listed yet when it streams', async () => {
    const { model, api, sockets } = setup();
    api.jobs = [{ id: 4, name: 'train', state: 'RUNNING' }];
    await model.start();
    sockets[0].onopen?.({});
    const reason = 'the worker was killed by SIGKILL (out of memory, or killed from outside)';
    api.jobs = [{ id: 4, name: 'train', state: 'FAILED', reason }];
    sockets[0].send(jobState(4, 'FAILED', reason));
    expect(model.jobs[0]).toMatchObject({ state: 'FAILED', error: reason });

    jest.advanceTimersByTime(200);
    await settle();
    expect(model.jobs.map(j => [j.id, j.state])).toEqual([['4', 'FAILED']]);

    // Submitted from a notebook since the list was loaded: its first event brings it in, with its curve so far.
    api.jobs = [{ id: 5, name: 'churn', state: 'RUNNING' }, ...api.jobs];
    api.jobHistory['5'] = [trainBegin(), trainBatch(1, 0.7)];
    api.calls = [];
    sockets[0].send(jobTraining(5, trainBatch(1, 0.7)));
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toEqual(['listJobs']);
    expect(model.jobs.map(j => [j.id, j.loss])).toEqual([
      ['5', [0.7]],
      ['4', []]
    ]);
    sockets[0].send(jobTraining(5, trainBatch(2, 0.6)));
    expect(model.jobs[0].loss).toEqual([0.7, 0.6]);
    model.dispose();
  });

  it('refreshes slowly while the stream is down, not while it is up, and catches up on reconnect', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    sockets[0].onopen?.({});
    api.calls = [];
    jest.advanceTimersByTime(15000);
    await settle();
    expect(api.calls).toEqual([]); // live: no polling

    sockets[0].onclose?.({}); // server restart
    jest.advanceTimersByTime(15000);
    await settle();
    expect(api.calls).toContain('listModels');
    expect(api.calls).toContain('listDeployments');

    api.calls = [];
    const reopened = sockets[sockets.length - 1];
    reopened.onopen?.({});
    await settle();
    expect(api.calls).toContain('listModels'); // missed events: one catch-up load
    model.dispose();
  });
});

/** Whether `secret` is anywhere in `value`'s fields, arrays, maps and sets, however deep. */
function holds(value: unknown, secret: string, seen = new Set<unknown>()): boolean {
  if (typeof value === 'string') {
    return value.includes(secret);
  }
  if (value === null || typeof value !== 'object' || seen.has(value)) {
    return false;
  }
  seen.add(value);
  const parts: unknown[] =
    value instanceof Map
      ? [...value.keys(), ...value.values()]
      : value instanceof Set
        ? [...value]
        : Object.values(value);
  return parts.some(part => holds(part, secret, seen));
}

describe('MaasModel keys', () => {
  it('lists the active keys with everything else, oldest first', async () => {
    const { model, api } = setup();
    await api.createKey(['mnist'], 'one');
    await api.createKey('*', 'two');
    await model.start();
    expect(model.loaded.keys).toBe(true);
    expect(model.keys.map(k => [k.id, k.endpoints, k.description, k.last_used_at])).toEqual([
      [1, ['mnist'], 'one', null],
      [2, ['*'], 'two', null]
    ]);
    model.dispose();
  });

  it('returns a new key to its caller once and keeps only its row', async () => {
    const { model, api } = setup();
    await model.start();
    const logged: unknown[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map(level =>
      jest.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(...args))
    );
    // The reload that follows a creation answers only when the test says: the row the model adds
    // from the creation's answer is looked at first, then the list as the server gives it.
    const listing = api.listKeys.bind(api);
    let release = () => {};
    api.listKeys = () => new Promise(resolve => (release = () => resolve(listing())));
    const created = await model.createKey(['ep', 'mnist'], "the shop's backend");
    expect(created.key).toMatch(/^maasik_/);
    expect(created.prefix).toBe(created.key.slice(0, 12));
    const shown = () => model.keys.map(k => [k.prefix, k.endpoints, k.description]);
    for (const step of ['added from the answer', 'reloaded']) {
      if (step === 'reloaded') {
        release();
        await settle();
        expect(api.calls).toContain('listKeys');
      }
      expect([step, shown()]).toEqual([step, [[created.prefix, ['ep', 'mnist'], "the shop's backend"]]]);
      // Not in the model's state (its rows included), not in the browser's storage, not in a log.
      expect([step, holds(model, created.key)]).toEqual([step, false]);
    }
    spies.forEach(spy => spy.mockRestore());
    expect(holds({ ...localStorage }, created.key) || holds({ ...sessionStorage }, created.key)).toBe(false);
    expect(holds(logged, created.key)).toBe(false);
    model.dispose();
  });

  it('revokes a key: gone from the list, which is reloaded from the server', async () => {
    const { model, api } = setup();
    await model.start();
    const first = await model.createKey(['mnist'], '');
    const second = await model.createKey('*', '');
    api.calls = [];
    await model.revokeKey(first.id, 'rotated');
    expect(api.calls).toEqual([`revokeKey ${first.id} rotated`, 'listKeys']);
    expect(model.keys.map(k => k.id)).toEqual([second.id]);
    model.dispose();
  });

  it('passes the message the server sent for a refused key, and keeps the list as it was', async () => {
    const { model } = setup();
    await model.start();
    await expect(model.createKey([], '')).rejects.toThrow('name the endpoints the key may call (or "*" for all)');
    await expect(model.revokeKey(41)).rejects.toThrow('inference key 41 does not exist');
    expect(model.keys).toEqual([]);
    model.dispose();
  });

  it('reloads the keys when endpoints come or go, not when the list stays the same', async () => {
    const { model, api, sockets } = setup();
    await model.start();
    sockets[0].onopen?.({});
    api.calls = [];
    await model.deploy('ep', 'mnist', '1'); // a new endpoint
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls.filter(c => c === 'listKeys')).toHaveLength(1);

    api.calls = [];
    await model.deploy('ep', 'mnist', '2'); // the same endpoint, another version
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).not.toContain('listKeys');

    await model.undeploy('ep');
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toContain('listKeys');
    model.dispose();
  });

  it('shows why the keys failed to load, and reloads them when endpoints change', async () => {
    const { model, api, sockets } = setup();
    await api.createKey('*', 'ci');
    api.failing.listKeys = new MaasApiError(404, 'not_found', 'no such route: GET /maas/api/keys');
    await model.start();
    sockets[0].onopen?.({});
    expect([model.loaded.keys, model.errors.keys, model.keys]).toEqual([
      false,
      'no such route: GET /maas/api/keys',
      []
    ]);
    expect(model.loaded.deployments).toBe(true);

    delete api.failing.listKeys;
    api.calls = [];
    await model.deploy('ep', 'mnist', '1'); // a new endpoint
    jest.advanceTimersByTime(200);
    await settle();
    expect(api.calls).toContain('listKeys');
    expect([model.loaded.keys, model.errors.keys, model.keys.map(k => k.description)]).toEqual([
      true,
      undefined,
      ['ci']
    ]);
    model.dispose();
  });
});

describe('helpers', () => {
  it('reads both deployment shapes', () => {
    expect(toEndpointView({ name: 'a', model: 'm', version: 3, state: 'ready' }).primary).toBe('3');
    expect(toEndpointView({ name: 'a', model: 'm', primary: { version: '4' }, state: 'ready' }).primary).toBe('4');
  });

  it('says which endpoints a key opens', () => {
    expect(keyEndpointsText({ endpoints: ['*'] })).toBe('all endpoints');
    expect(keyEndpointsText({ endpoints: ['churn', 'mnist'] })).toBe('churn, mnist');
    expect(isAllEndpoints({ endpoints: ['mnist'] })).toBe(false);
  });

  it('shortens the anonymous user names Jupyter makes, and only those', () => {
    expect(shortUser('483fcf0bf89047ca9a0a9c8ccf6810bf')).toBe('483fcf0b…');
    expect(shortUser('alice')).toBe('alice');
    expect(shortUser('')).toBe('');
  });

  it('keeps series bounded', () => {
    expect(pushBounded([1, 2, 3], 4, 3)).toEqual([2, 3, 4]);
    expect(pushBounded([], 1, 3)).toEqual([1]);
  });

  it('knows which job states can be cancelled', () => {
    expect(isJobActive('running')).toBe(true);
    expect(isJobActive('QUEUED')).toBe(true);
    expect(isJobActive('succeeded')).toBe(false);
  });
});
