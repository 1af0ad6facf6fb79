/**
 * Shapes of the maas management REST API (maas/api/...), as the server sends them.
 *
 * Fields the backend may not send yet are optional; model.ts normalises what it shows.
 */

export interface IPage<T> {
  items: T[];
  total?: number;
  offset?: number;
  limit?: number;
}

export interface IInfo {
  version: string;
  home?: string;
  database?: string;
  backend?: string;
  [key: string]: unknown;
}

export interface IModelSummary {
  name: string;
  description?: string;
  tags?: Record<string, string>;
  latest_version: number | null;
  version_count: number;
  aliases: Record<string, number>;
  created_at?: string;
  updated_at?: string;
}

export interface ITensorSpec {
  name: string;
  datatype: string;
  shape: number[];
}

export interface IModelVersion {
  name: string;
  version: number;
  aliases: string[];
  description?: string;
  tags?: Record<string, string>;
  source?: string;
  sha256?: string;
  size_bytes?: number;
  signature?: { inputs: ITensorSpec[]; outputs: ITensorSpec[] };
  metrics?: Record<string, unknown>;
  params?: Record<string, unknown>;
  run_id?: string | null;
  parent_version?: number | null;
  created_by?: string | null;
  created_at?: string;
}

export interface ICanary {
  version: number | string;
  weight: number;
}

export interface IDeployment {
  name: string;
  model: string;
  /** The primary version (the serving engine's shape). */
  version?: number | string | null;
  /** The primary version (the shape first sketched for the API). */
  primary?: { version: number | string; [key: string]: unknown } | null;
  previous_version?: number | string | null;
  canary?: ICanary | null;
  state: string;
  error?: string | null;
  [key: string]: unknown;
}

export interface IJob {
  /** A number as the server sends it; events name the job by the same number (compare as strings). */
  id?: number | string;
  job_id?: number | string;
  name?: string;
  state?: string;
  status?: string;
  /** Why the job ended (FAILED: the error; CANCELLED: "cancelled"), as the server's job rows say. */
  reason?: string | null;
  error?: string | null;
  [key: string]: unknown;
}

/** One point of an endpoint's metrics: requests per second and p99 latency in milliseconds. */
export interface IMetricPoint {
  t: number;
  throughput: number | null;
  p99: number | null;
}

/*
 * The events stream's messages (maas/api/events): generated from the server's one definition of them,
 * maas_jupyter/events.schema.json, by scripts/make_event_types.py.
 */
export type {
  ICanaryRollback,
  IDeploymentChanged,
  IDeploymentLoadFailed,
  IDeploymentLoading,
  IDeploymentState,
  IJobState,
  IJobTraining,
  IObserved,
  IRegistryChanged,
  ITrainBatch,
  ITrainBegin,
  ITrainEnd,
  ITrainEpoch,
  Logs,
  MaasEvent,
  TrainerEvent
} from './events.generated';

/**
 * An inference-only key as listed by maas/api/keys: never the key itself, only its first characters.
 * `endpoints` is ["*"] for a key that may call every endpoint. Times are ISO 8601 in UTC (a listing
 * may leave the offset out).
 */
export interface IInferenceKey {
  id: number;
  prefix: string;
  endpoints: string[];
  description: string;
  created_by: string;
  created_at: string;
  revoked_by: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  active: boolean;
}

/** The answer to creating a key: the listed row plus the key itself, which the server shows this once. */
export interface ICreatedKey extends IInferenceKey {
  key: string;
}
