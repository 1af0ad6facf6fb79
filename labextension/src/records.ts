import { MaasApiError } from './api';
import { IDeployment, IInferenceKey, IJob } from './types';

/*
 * What the sidebar shows, normalised from what the server sends (field names differ between
 * areas and between API revisions), and small helpers over it. No state, no I/O.
 */

export interface IEndpointView {
  name: string;
  model: string;
  state: string;
  error: string | null;
  primary: string | null;
  previous: string | null;
  canary: { version: string; weight: number } | null;
  throughput: number[];
  p99: number[];
}

export interface IJobView {
  id: string;
  name: string;
  state: string;
  error: string | null;
  loss: number[];
  raw: IJob;
}

const ACTIVE_JOB_STATES = new Set(['queued', 'pending', 'running', 'starting', 'submitted']);

/** True when a job in this state can still be cancelled. */
export function isJobActive(state: string): boolean {
  return ACTIVE_JOB_STATES.has(state.toLowerCase());
}

/** A JSON field as text to show: null when it is missing or empty; an object as its JSON, not "[object Object]". */
export function str(value: unknown): string | null {
  if (typeof value === 'string') {
    return value === '' ? null : value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  return value !== null && typeof value === 'object' ? JSON.stringify(value) : null;
}

export function finite(value: unknown): number | null {
  return typeof value === 'number' && isFinite(value) ? value : null;
}

/** Normalise a deployment as the server sends it (either shape) into what the sidebar shows. */
export function toEndpointView(d: IDeployment, previous?: IEndpointView): IEndpointView {
  const canary =
    d.canary && d.canary.version !== undefined && d.canary.version !== null
      ? { version: String(d.canary.version), weight: Number(d.canary.weight ?? 0) }
      : null;
  return {
    name: d.name,
    model: d.model,
    state: String(d.state ?? 'unknown'),
    error: str(d.error),
    primary: str(d.version ?? d.primary?.version),
    previous: str(d.previous_version),
    canary,
    throughput: previous?.throughput ?? [],
    p99: previous?.p99 ?? []
  };
}

/** Normalise a job record; jobs may name their id `id` or `job_id`, their state `state` or `status`. */
export function toJobView(job: IJob, previous?: IJobView): IJobView {
  const id = String(job.id ?? job.job_id ?? job.name ?? '?');
  const history = Array.isArray((job as any).loss_history) ? ((job as any).loss_history as unknown[]) : null;
  return {
    id,
    name: String(job.name ?? id),
    state: String(job.state ?? job.status ?? 'unknown'),
    // The server says why a job ended in `reason`; only a failure's reason is an error to show.
    error: str(job.error) ?? (String(job.state).toUpperCase() === 'FAILED' ? str(job.reason) : null),
    loss: history ? history.map(finite).filter((v): v is number => v !== null) : (previous?.loss ?? []),
    raw: job
  };
}

/** True for a key that may call every endpoint (its endpoints are ["*"]). */
export function isAllEndpoints(key: Pick<IInferenceKey, 'endpoints'>): boolean {
  return key.endpoints.includes('*');
}

/** The endpoints a key may call, for a sentence: "all endpoints" or "mnist, churn". */
export function keyEndpointsText(key: Pick<IInferenceKey, 'endpoints'>): string {
  return isAllEndpoints(key) ? 'all endpoints' : key.endpoints.join(', ');
}

/**
 * A user name short enough for a sidebar line: Jupyter names an anonymous user by 32 hex digits, of which
 * the first 8 tell users apart. Other names stay whole.
 */
export function shortUser(name: string): string {
  return /^[0-9a-f]{32}$/.test(name) ? `${name.slice(0, 8)}…` : name;
}

/** Append to a bounded series, returning a new array (React sees the change). */
export function pushBounded(series: number[], value: number, limit: number): number[] {
  const next = series.length >= limit ? series.slice(series.length - limit + 1) : series.slice();
  next.push(value);
  return next;
}

/** The server's reason for a failure, as one line. */
export function describe(error: unknown): string {
  if (error instanceof MaasApiError) {
    return error.message || `HTTP ${error.status}`;
  }
  return error instanceof Error ? error.message : String(error);
}
