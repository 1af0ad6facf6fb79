import { ISignal, Signal } from '@lumino/signaling';

import { IMaasApi, MaasApiError } from './api';
import { EventStream, StreamStatus } from './events';
import { describe, finite, IEndpointView, IJobView, pushBounded, str, toEndpointView, toJobView } from './records';
import {
  ICreatedKey,
  IDeployment,
  IDeploymentChanged,
  IInferenceKey,
  IJobState,
  IJobTraining,
  IMetricPoint,
  IModelSummary,
  IModelVersion,
  IRegistryChanged,
  MaasEvent,
  TrainerEvent
} from './types';

/** A list of the sidebar, loaded as a whole; metrics are not one: they fill the endpoints' sparklines. */
export type Area = 'models' | 'deployments' | 'jobs' | 'keys';

export interface INotice {
  kind: 'info' | 'warning' | 'error';
  message: string;
}

export interface IModelOptions {
  /** Refresh period while the events stream is down, in ms. */
  fallbackRefreshMs?: number;
  /** Metrics poll period, in ms: the events stream carries no metrics, the metrics route has them. */
  metricsPollMs?: number;
  /** Points kept per sparkline. */
  seriesLength?: number;
  /** Window asked of the metrics route, in seconds. */
  metricsWindowSeconds?: number;
}

/**
 * The sidebar's state: models, their versions, endpoints, jobs, live series; kept current from the
 * events stream, refreshed slowly only while that stream is down. Views read it and call its actions.
 */
export class MaasModel {
  constructor(api: IMaasApi, stream: EventStream | null, options: IModelOptions = {}) {
    this.api = api;
    this.stream = stream;
    this._fallbackMs = options.fallbackRefreshMs ?? 15000;
    this._metricsPollMs = options.metricsPollMs ?? 5000;
    this._seriesLength = options.seriesLength ?? 60;
    this._metricsWindow = options.metricsWindowSeconds ?? 60;
    if (stream) {
      stream.event.connect((_, event) => this.handleEvent(event), this);
      stream.statusChanged.connect((_, status) => this._onStreamStatus(status), this);
    }
  }

  readonly api: IMaasApi;
  readonly stream: EventStream | null;

  models: IModelSummary[] = [];
  versions = new Map<string, IModelVersion[]>();
  expanded = new Set<string>();
  endpoints: IEndpointView[] = [];
  jobs: IJobView[] = [];
  /** Active inference keys, oldest first. Rows only: a key itself is handed to its creator, never kept. */
  keys: IInferenceKey[] = [];
  /** Whether each area has loaded once: until then its section says it is loading, not that it is empty. */
  loaded: Record<Area, boolean> = { models: false, deployments: false, jobs: false, keys: false };
  /**
   * Per area, why its last load failed (a 404 as any other answer), shown in its section beside the rows
   * of an earlier load; the next load that succeeds clears it.
   */
  errors: Partial<Record<Area, string>> = {};

  /** Things the user should hear of although they did not ask (an automatic canary rollback). */
  get notice(): ISignal<this, INotice> {
    return this._notice;
  }

  /** Emits whenever anything shown has changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get streamStatus(): StreamStatus | 'none' {
    return this.stream ? this.stream.status : 'none';
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Load everything, open the events stream, start the timers that need it. */
  async start(): Promise<void> {
    this.stream?.start();
    this._armFallback();
    this._armMetricsPoll();
    await this.refreshAll();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    for (const handle of [this._fallbackTimer, this._metricsTimer, ...this._debounce.values()]) {
      if (handle !== null && handle !== undefined) {
        clearTimeout(handle);
      }
    }
    this._debounce.clear();
    this.stream?.dispose();
    Signal.clearData(this);
  }

  async refreshAll(): Promise<void> {
    await Promise.all([this.refreshModels(), this.refreshDeployments(), this.refreshJobs(), this.refreshKeys()]);
    await Promise.all([...this.expanded].map(name => this.refreshVersions(name)));
    await this.refreshMetrics();
  }

  async refreshModels(): Promise<void> {
    const request = ++this._modelsRequests;
    // A later load is under way (a newer event): this one's answer, or failure, is out of date.
    const superseded = () => request !== this._modelsRequests;
    await this._load('models', async () => {
      const models = await this.api.listModels().catch(error => {
        if (superseded()) {
          return null;
        }
        throw error;
      });
      if (models === null || superseded()) {
        return;
      }
      this.models = models;
      for (const name of [...this.expanded]) {
        if (!this.models.some(m => m.name === name)) {
          this.expanded.delete(name);
          this.versions.delete(name);
        }
      }
    });
  }

  async refreshVersions(model: string): Promise<void> {
    const request = (this._versionsRequests.get(model) ?? 0) + 1;
    this._versionsRequests.set(model, request);
    const superseded = () => request !== this._versionsRequests.get(model); // by a later load of this model
    try {
      const list = await this.api.listVersions(model);
      if (superseded()) {
        return;
      }
      // Newest first: the version a user acts on is usually the latest.
      this.versions.set(
        model,
        list.slice().sort((a, b) => b.version - a.version)
      );
    } catch (error) {
      if (superseded()) {
        return;
      } else if (error instanceof MaasApiError && error.status === 404) {
        this.versions.delete(model);
      } else {
        this.errors.models = describe(error);
      }
    }
    this._emit();
  }

  async refreshDeployments(): Promise<void> {
    await this._load('deployments', async () => {
      const old = new Map(this.endpoints.map(e => [e.name, e]));
      this.endpoints = (await this.api.listDeployments()).map(d => toEndpointView(d, old.get(d.name)));
    });
    this._endpointsChanged();
  }

  async refreshKeys(): Promise<void> {
    const request = ++this._keysRequests;
    await this._load('keys', async () => {
      const keys = await this.api.listKeys().catch(error => {
        if (request !== this._keysRequests) {
          return null; // a later load (after a create or revoke) answers instead
        }
        throw error;
      });
      if (keys !== null && request === this._keysRequests) {
        this.keys = keys.slice().sort((a, b) => a.id - b.id);
      }
    });
  }

  async refreshJobs(): Promise<void> {
    await this._load('jobs', async () => {
      const old = new Map(this.jobs.map(j => [j.id, j]));
      this.jobs = (await this.api.listJobs()).map(j => {
        const id = String(j.id ?? j.job_id ?? j.name ?? '?');
        return toJobView(j, old.get(id));
      });
      for (const job of this.jobs.slice(0, 10)) {
        if (!old.has(job.id) && job.loss.length === 0) {
          void this._backfillLoss(job);
        }
      }
    });
  }

  /** Fetch each endpoint's recent metrics window: what its sparklines show. */
  async refreshMetrics(): Promise<void> {
    if (this.endpoints.length === 0) {
      return;
    }
    for (const endpoint of this.endpoints) {
      let points: IMetricPoint[];
      try {
        points = await this.api.deploymentMetrics(endpoint.name, this._metricsWindow);
      } catch {
        // An endpoint that just went away, or a transient failure: its sparklines keep what they
        // showed, and the next poll asks again.
        continue;
      }
      const current = this.endpoints.find(e => e.name === endpoint.name);
      if (current) {
        const tail = points.slice(-this._seriesLength);
        current.throughput = tail.map(p => p.throughput ?? 0);
        // Seconds without requests have no latency: leave them out rather than draw them as 0 ms.
        current.p99 = tail.filter(p => p.p99 !== null).map(p => p.p99 as number);
      }
    }
    this.endpoints = this.endpoints.slice();
    this._emit();
  }

  /** Expand or collapse a model; expanding loads its versions. */
  async toggle(model: string): Promise<void> {
    if (this.expanded.has(model)) {
      this.expanded.delete(model);
      this._emit();
      return;
    }
    this.expanded.add(model);
    this._emit();
    await this.refreshVersions(model);
  }

  /** Endpoints serving `model`@`version` (as primary or canary). */
  servingEndpoints(model: string, version: number): string[] {
    const v = String(version);
    return this.endpoints
      .filter(e => e.model === model && (e.primary === v || e.canary?.version === v))
      .map(e => e.name);
  }

  // ---- actions: each throws MaasApiError with the server's reason; the view reports it ----------

  async deploy(endpoint: string, model: string, version: string): Promise<IDeployment> {
    const result = await this.api.deploy(endpoint, model, version);
    this._applyDeployment(result);
    void this.refreshDeployments();
    return result;
  }

  async canary(endpoint: string, model: string, version: string, weight: number): Promise<IDeployment> {
    const result = await this.api.canary(endpoint, model, version, weight);
    this._applyDeployment(result);
    return result;
  }

  async setAlias(model: string, alias: string, version: number): Promise<void> {
    await this.api.setAlias(model, alias, version);
    await Promise.all([this.refreshModels(), this.refreshVersions(model)]);
  }

  async deleteAlias(model: string, alias: string): Promise<void> {
    await this.api.deleteAlias(model, alias);
    await Promise.all([this.refreshModels(), this.refreshVersions(model)]);
  }

  async promote(endpoint: string): Promise<void> {
    this._applyDeployment(await this.api.promote(endpoint));
  }

  async rollback(endpoint: string): Promise<void> {
    this._applyDeployment(await this.api.rollback(endpoint));
  }

  async undeploy(endpoint: string): Promise<void> {
    await this.api.undeploy(endpoint);
    this.endpoints = this.endpoints.filter(e => e.name !== endpoint);
    this._emit();
    this._endpointsChanged();
  }

  async cancelJob(id: string): Promise<void> {
    await this.api.cancelJob(id);
    await this.refreshJobs();
  }

  /**
   * Create an inference key for these endpoints (or "*"). The answer, which holds the key itself, goes
   * to the caller alone: the list keeps the row without it, as the server lists it.
   */
  async createKey(endpoints: string[] | '*', description: string): Promise<ICreatedKey> {
    const created = await this.api.createKey(endpoints, description);
    const { key: _secret, ...row } = created;
    this.keys = [...this.keys.filter(k => k.id !== row.id), row].sort((a, b) => a.id - b.id);
    this._emit();
    void this.refreshKeys();
    return created;
  }

  async revokeKey(id: number, reason = ''): Promise<void> {
    await this.api.revokeKey(id, reason);
    this.keys = this.keys.filter(k => k.id !== id);
    this._emit();
    await this.refreshKeys();
  }

  // ---- live events -------------------------------------------------------------------------------

  /**
   * Apply one event of the stream. An event that carries the new state is shown at once; each also
   * schedules a (debounced) reload of its area, which a burst of events shares.
   */
  handleEvent(event: MaasEvent): void {
    switch (event.type) {
      case 'registry.changed':
        this._applyRegistryChange(event);
        return;
      case 'deployment.deploy':
      case 'deployment.swap':
      case 'deployment.update':
      case 'deployment.canary':
      case 'deployment.promote':
      case 'deployment.rollback':
      case 'deployment.undeploy':
      case 'deployment.load':
      case 'deployment.unload':
        this._applyDeploymentChange(event);
        return;
      case 'deployment.loading':
        // A load under way changes no endpoint yet: its outcome follows as a change or as load_failed.
        return;
      case 'deployment.load_failed':
        // What was serving goes on serving; an endpoint restored at start may now show as failed.
        this._notice.emit({
          kind: 'error',
          message: `${event.model} v${event.version} could not be loaded: ${event.error}`
        });
        this._schedule('deployments', () => this.refreshDeployments());
        return;
      case 'deployment.canary_rollback':
        this._notice.emit({
          kind: 'warning',
          message: `"${event.endpoint}": ${event.reason}; traffic is back on v${event.primary_version}`
        });
        this._schedule('deployments', () => this.refreshDeployments());
        return;
      case 'job.state':
        this._applyJobState(event);
        return;
      case 'job.training':
        this._applyJobTraining(event);
        return;
      default:
        unhandled(event);
    }
  }

  /** A model changed somewhere (a kernel, a job, another server): reload the list, and its versions if open. */
  private _applyRegistryChange(event: IRegistryChanged): void {
    this._schedule('models', () => this.refreshModels());
    // A deleted model is closed by the list's reload (a "created" follows if it came back).
    if (event.change !== 'deleted' && this.expanded.has(event.model)) {
      this._schedule(`versions:${event.model}`, () => this.refreshVersions(event.model));
    }
  }

  /** An endpoint changed, by whoever changed it: show it as it now is (gone once undeployed). */
  private _applyDeploymentChange(event: IDeploymentChanged): void {
    if (event.deployment) {
      // A copy: IDeployment, the REST shape, is open to more fields; an interface does not say it is.
      this._applyDeployment({ ...event.deployment });
    } else if (this.endpoints.some(e => e.name === event.name)) {
      this.endpoints = this.endpoints.filter(e => e.name !== event.name);
      this._emit();
      this._endpointsChanged();
    }
    this._schedule('deployments', () => this.refreshDeployments());
  }

  /** The listed job an event names: events carry the id as a number, the list keeps it as text. */
  private _findJob(id: number): IJobView | undefined {
    return this.jobs.find(j => j.id === String(id));
  }

  private _applyJobState(event: IJobState): void {
    const job = this._findJob(event.job_id);
    if (job) {
      job.state = event.state;
      if (event.state === 'FAILED') {
        job.error = str(event.reason) ?? job.error;
      }
      this.jobs = this.jobs.slice();
      this._emit();
    }
    // The row says more than the event (when it ended, the version it registered); a new job is added.
    this._schedule('jobs', () => this.refreshJobs());
  }

  private _applyJobTraining(event: IJobTraining): void {
    const job = this._findJob(event.job_id);
    if (!job) {
      this._schedule('jobs', () => this.refreshJobs()); // a job submitted since the list was loaded
      return;
    }
    if (this._addLoss(job, event.event)) {
      this.jobs = this.jobs.slice();
      this._emit();
    }
    if (event.event.type === 'train_end') {
      this._schedule('jobs', () => this.refreshJobs());
    }
  }

  /**
   * Batch losses when the job streams them, else epoch losses: one curve, not two interleaved.
   * Whether the curve grew.
   */
  private _addLoss(job: IJobView, event: TrainerEvent): boolean {
    let loss: number | null;
    if (event.type === 'batch') {
      loss = finite(event.loss);
    } else if (event.type === 'epoch' && !this._batchLoss.has(job.id)) {
      loss = finite(event.logs.loss);
    } else {
      return false;
    }
    if (loss === null) {
      return false;
    }
    if (event.type === 'batch') {
      this._batchLoss.add(job.id);
    }
    job.loss = pushBounded(job.loss, loss, 200);
    return true;
  }

  /** A job listed for the first time gets the loss curve it has streamed so far. */
  private async _backfillLoss(job: IJobView): Promise<void> {
    let events: Array<Record<string, any>>;
    try {
      events = await this.api.jobEvents(job.id);
    } catch {
      return; // the job is gone, or a transient failure: the curve starts with the next live event
    }
    const current = this.jobs.find(j => j.id === job.id);
    if (!current || current.loss.length > 0) {
      return;
    }
    for (const event of events) {
      if (isLossEvent(event)) {
        this._addLoss(current, event);
      }
    }
    this.jobs = this.jobs.slice();
    this._emit();
  }

  private _applyDeployment(d: IDeployment | undefined | null): void {
    if (!d || typeof d !== 'object' || typeof d.name !== 'string') {
      return;
    }
    const index = this.endpoints.findIndex(e => e.name === d.name);
    const view = toEndpointView(d, index >= 0 ? this.endpoints[index] : undefined);
    this.endpoints =
      index >= 0
        ? [...this.endpoints.slice(0, index), view, ...this.endpoints.slice(index + 1)]
        : [...this.endpoints, view].sort((a, b) => a.name.localeCompare(b.name));
    this.loaded.deployments = true;
    this._emit();
    this._endpointsChanged();
  }

  /**
   * Reload the keys when endpoints came or went (not on the first load, which loads the keys anyway):
   * the Keys list says which of a key's endpoints are deployed, and stays in step with the Endpoints list.
   */
  private _endpointsChanged(): void {
    if (!this.loaded.deployments) {
      return;
    }
    const names = this.endpoints
      .map(e => e.name)
      .sort()
      .join('\n');
    const before = this._endpointNames;
    this._endpointNames = names;
    if (before !== null && before !== names) {
      this._schedule('keys', () => this.refreshKeys());
    }
  }

  // ---- timers --------------------------------------------------------------------------------------

  private _onStreamStatus(status: StreamStatus): void {
    if (status === 'open' && this._streamWasDown) {
      // Events were missed while the stream was down: catch up once.
      void this.refreshAll();
    }
    if (status === 'open') {
      this._streamWasDown = false;
    } else if (status === 'closed') {
      this._streamWasDown = true;
    }
    this._emit();
  }

  private _armFallback(): void {
    if (this._disposed) {
      return;
    }
    this._fallbackTimer = setTimeout(async () => {
      if (this.streamStatus !== 'open') {
        await this.refreshAll();
      }
      this._armFallback();
    }, this._fallbackMs);
  }

  private _armMetricsPoll(): void {
    if (this._disposed) {
      return;
    }
    this._metricsTimer = setTimeout(async () => {
      await this.refreshMetrics(); // asks nothing while there is no endpoint
      this._armMetricsPoll();
    }, this._metricsPollMs);
  }

  private _schedule(key: string, fn: () => Promise<void>): void {
    if (this._debounce.has(key) || this._disposed) {
      return;
    }
    this._debounce.set(
      key,
      setTimeout(() => {
        this._debounce.delete(key);
        void fn();
      }, 150)
    );
  }

  private async _load(area: Area, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      this.loaded[area] = true;
      delete this.errors[area];
    } catch (error) {
      // Rows of an earlier load stay: they are what was last known, shown with why the reload failed.
      this.errors[area] = describe(error);
    }
    this._emit();
  }

  private _emit(): void {
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _fallbackMs: number;
  private _metricsPollMs: number;
  private _seriesLength: number;
  private _metricsWindow: number;
  private _fallbackTimer: any = null;
  private _metricsTimer: any = null;
  private _debounce = new Map<string, any>();
  private _streamWasDown = false;
  private _batchLoss = new Set<string>();
  private _modelsRequests = 0;
  private _keysRequests = 0;
  private _endpointNames: string | null = null;
  private _versionsRequests = new Map<string, number>();
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
  private _notice = new Signal<this, INotice>(this);
}

/** The compile-time proof that handleEvent handles every kind of MaasEvent; at run time, a no-op. */
function unhandled(_event: never): void {}

/**
 * Whether a record of the job events route is a trainer event that can carry a loss. The route answers
 * with the job's event file (TrainerEvent); the check keeps a damaged line from breaking the curve.
 */
function isLossEvent(record: Record<string, unknown>): record is Record<string, unknown> & TrainerEvent {
  if (record.type === 'batch') {
    return true;
  }
  return record.type === 'epoch' && typeof record.logs === 'object' && record.logs !== null;
}
