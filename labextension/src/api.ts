import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  ICreatedKey,
  IDeployment,
  IInferenceKey,
  IInfo,
  IJob,
  IMetricPoint,
  IModelSummary,
  IModelVersion,
  IPage
} from './types';

/**
 * An error answered by the management API, carrying the server's reason.
 */
export class MaasApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
    this.name = 'MaasApiError';
  }
}

/**
 * What the sidebar's model needs from the server; model.ts depends on this, not on HTTP.
 */
export interface IMaasApi {
  info(): Promise<IInfo>;
  listModels(): Promise<IModelSummary[]>;
  listVersions(model: string): Promise<IModelVersion[]>;
  setAlias(model: string, alias: string, version: number): Promise<unknown>;
  deleteAlias(model: string, alias: string): Promise<void>;
  listDeployments(): Promise<IDeployment[]>;
  deploy(endpoint: string, model: string, version: string): Promise<IDeployment>;
  canary(endpoint: string, model: string, version: string, weight: number): Promise<IDeployment>;
  promote(endpoint: string): Promise<IDeployment>;
  rollback(endpoint: string): Promise<IDeployment>;
  undeploy(endpoint: string): Promise<void>;
  deploymentMetrics(endpoint: string, windowSeconds: number): Promise<IMetricPoint[]>;
  listJobs(): Promise<IJob[]>;
  cancelJob(id: string): Promise<unknown>;
  /** Training events a job has streamed so far (for a loss curve opened mid-run). */
  jobEvents(id: string): Promise<Array<Record<string, unknown>>>;
  /** The active inference keys (never the keys themselves). */
  listKeys(): Promise<IInferenceKey[]>;
  /** A new inference key for these endpoints, or "*" for all: the answer holds the key, this once. */
  createKey(endpoints: string[] | '*', description: string): Promise<ICreatedKey>;
  /** Revoke a key: it stops working within seconds; resolves to its row, now inactive. */
  revokeKey(id: number, reason?: string): Promise<IInferenceKey>;
  /** The WebSocket URL of the events stream. */
  eventsUrl(): string;
  /** The URL of an endpoint's V2 REST inference route under this server (`endpoint` as given). */
  inferUrl(endpoint: string): string;
}

/** Extract {items} from a page, or accept a bare list. */
function items<T>(body: IPage<T> | T[] | null | undefined): T[] {
  if (Array.isArray(body)) {
    return body;
  }
  return body && Array.isArray(body.items) ? body.items : [];
}

function num(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

/**
 * Read an endpoint's metrics answer into points, tolerating the shapes a monitor may send:
 * {"points"|"series"|"items": [{t|time|at|timestamp, throughput|rps, p99|p99_ms|latency_p99_ms}]}
 * or parallel arrays {"t"|"time": [...], "throughput": [...], "p99_ms": [...]}.
 */
export function parseMetrics(body: any): IMetricPoint[] {
  if (!body || typeof body !== 'object') {
    return [];
  }
  if (body.versions && typeof body.versions === 'object' && !Array.isArray(body.versions)) {
    return mergeVersions(Object.values(body.versions).map((v: any) => parseMetrics(v?.points ?? v)));
  }
  const pick = (o: any, keys: string[]): unknown => {
    for (const k of keys) {
      if (o && o[k] !== undefined) {
        return o[k];
      }
    }
    return undefined;
  };
  const timeKeys = ['t', 'time', 'at', 'timestamp', 'ts'];
  const rpsKeys = ['throughput', 'rps', 'requests_per_second', 'throughput_rps'];
  const p99Keys = ['p99', 'p99_ms', 'latency_p99_ms', 'latency_p99'];
  const list = Array.isArray(body) ? body : pick(body, ['points', 'series', 'items', 'data']);
  if (Array.isArray(list)) {
    return list
      .filter(p => p && typeof p === 'object')
      .map((p, i) => ({
        t: num(pick(p, timeKeys)) ?? i,
        throughput: num(pick(p, rpsKeys)),
        p99: num(pick(p, p99Keys))
      }));
  }
  const rps = pick(body, rpsKeys);
  const p99 = pick(body, p99Keys);
  const times = pick(body, timeKeys);
  const length = Math.max(Array.isArray(rps) ? rps.length : 0, Array.isArray(p99) ? p99.length : 0);
  const out: IMetricPoint[] = [];
  for (let i = 0; i < length; i++) {
    out.push({
      t: Array.isArray(times) ? (num(times[i]) ?? i) : i,
      throughput: Array.isArray(rps) ? num(rps[i]) : null,
      p99: Array.isArray(p99) ? num(p99[i]) : null
    });
  }
  return out;
}

/**
 * One endpoint series from per-version series (the monitor's {"versions": {v: {"points": ...}}}):
 * throughput adds up; p99 of the endpoint is taken as the worst version's p99 at that second.
 */
function mergeVersions(series: IMetricPoint[][]): IMetricPoint[] {
  const byTime = new Map<number, IMetricPoint>();
  for (const points of series) {
    for (const p of points) {
      const seen = byTime.get(p.t);
      if (!seen) {
        byTime.set(p.t, { ...p });
        continue;
      }
      if (p.throughput !== null) {
        seen.throughput = (seen.throughput ?? 0) + p.throughput;
      }
      if (p.p99 !== null) {
        seen.p99 = seen.p99 === null ? p.p99 : Math.max(seen.p99, p.p99);
      }
    }
  }
  return [...byTime.values()].sort((a, b) => a.t - b.t);
}

/**
 * The management API over Jupyter's ServerConnection (auth token, XSRF cookie, base URL).
 */
export class MaasApi implements IMaasApi {
  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  readonly settings: ServerConnection.ISettings;

  /** Call maas/api/{path}; resolve to the parsed JSON body (undefined for 204), or throw MaasApiError. */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, 'maas/api', path);
    if (init.body !== undefined && !(init.headers as any)?.['Content-Type']) {
      init = { ...init, headers: { ...(init.headers as any), 'Content-Type': 'application/json' } };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new MaasApiError(0, 'network', `cannot reach the server: ${String(error)}`);
    }
    const text = await response.text();
    let body: any = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!response.ok) {
      const error = body && typeof body === 'object' ? body.error : undefined;
      if (error && typeof error === 'object') {
        throw new MaasApiError(response.status, String(error.code ?? 'error'), String(error.message ?? ''));
      }
      const reason = typeof error === 'string' ? error : (body?.message ?? response.statusText);
      throw new MaasApiError(
        response.status,
        response.status === 404 ? 'not_found' : 'error',
        String(reason || `HTTP ${response.status}`)
      );
    }
    return body as T;
  }

  info(): Promise<IInfo> {
    return this.request<IInfo>('info');
  }

  async listModels(): Promise<IModelSummary[]> {
    const out: IModelSummary[] = [];
    // Page through every model; a registry of thousands would want search instead of a list.
    for (let offset = 0; offset < 10000;) {
      const page = await this.request<IPage<IModelSummary>>(`models?offset=${offset}&limit=500`);
      const got = items(page);
      out.push(...got);
      offset += got.length;
      if (got.length === 0 || page.total === undefined || offset >= page.total) {
        break;
      }
    }
    return out;
  }

  async listVersions(model: string): Promise<IModelVersion[]> {
    const page = await this.request<IPage<IModelVersion>>(`models/${encodeURIComponent(model)}/versions?limit=1000`);
    return items(page);
  }

  setAlias(model: string, alias: string, version: number): Promise<unknown> {
    return this.request(`models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(alias)}`, {
      method: 'PUT',
      body: JSON.stringify({ version })
    });
  }

  async deleteAlias(model: string, alias: string): Promise<void> {
    await this.request(`models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(alias)}`, {
      method: 'DELETE'
    });
  }

  async listDeployments(): Promise<IDeployment[]> {
    return items(await this.request<IPage<IDeployment> | IDeployment[]>('deployments'));
  }

  deploy(endpoint: string, model: string, version: string): Promise<IDeployment> {
    return this.request<IDeployment>('deployments', {
      method: 'POST',
      body: JSON.stringify({ name: endpoint, model, version })
    });
  }

  /** Send `weight` percent of an existing endpoint's traffic to another version of its model. */
  canary(endpoint: string, model: string, version: string, weight: number): Promise<IDeployment> {
    return this.request<IDeployment>('deployments', {
      method: 'POST',
      body: JSON.stringify({ name: endpoint, model, canary: { version, weight } })
    });
  }

  promote(endpoint: string): Promise<IDeployment> {
    return this.request<IDeployment>(`deployments/${encodeURIComponent(endpoint)}/promote`, {
      method: 'POST',
      body: '{}'
    });
  }

  rollback(endpoint: string): Promise<IDeployment> {
    return this.request<IDeployment>(`deployments/${encodeURIComponent(endpoint)}/rollback`, {
      method: 'POST',
      body: '{}'
    });
  }

  async undeploy(endpoint: string): Promise<void> {
    await this.request(`deployments/${encodeURIComponent(endpoint)}`, { method: 'DELETE' });
  }

  async deploymentMetrics(endpoint: string, windowSeconds: number): Promise<IMetricPoint[]> {
    const body = await this.request<unknown>(
      `deployments/${encodeURIComponent(endpoint)}/metrics?window=${windowSeconds}`
    );
    return parseMetrics(body);
  }

  async listJobs(): Promise<IJob[]> {
    return items(await this.request<IPage<IJob> | IJob[]>('jobs'));
  }

  cancelJob(id: string): Promise<unknown> {
    return this.request(`jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: '{}' });
  }

  async jobEvents(id: string): Promise<Array<Record<string, unknown>>> {
    const body = await this.request<any>(`jobs/${encodeURIComponent(id)}/events`);
    return Array.isArray(body?.events) ? body.events : [];
  }

  async listKeys(): Promise<IInferenceKey[]> {
    return items(await this.request<IPage<IInferenceKey>>('keys'));
  }

  createKey(endpoints: string[] | '*', description: string): Promise<ICreatedKey> {
    const body: Record<string, unknown> = { endpoints };
    if (description) {
      body.description = description;
    }
    return this.request<ICreatedKey>('keys', { method: 'POST', body: JSON.stringify(body) });
  }

  revokeKey(id: number, reason = ''): Promise<IInferenceKey> {
    const query = reason ? `?reason=${encodeURIComponent(reason)}` : '';
    return this.request<IInferenceKey>(`keys/${encodeURIComponent(String(id))}${query}`, { method: 'DELETE' });
  }

  inferUrl(endpoint: string): string {
    return URLExt.join(this.settings.baseUrl, 'maas/v2/models', endpoint, 'infer');
  }

  eventsUrl(): string {
    let url = URLExt.join(this.settings.wsUrl, 'maas/api/events');
    // The browser sends Jupyter's cookie with the upgrade; a token-configured page needs the token.
    if (this.settings.token) {
      url += `?token=${encodeURIComponent(this.settings.token)}`;
    }
    return url;
  }
}
