import { IEndpointView } from './records';

/**
 * Notifications that describe an endpoint's canary ("sends 10% to v2"): each one goes away once that
 * canary is no longer what the endpoint runs (promoted, rolled back, cleared, re-weighed or replaced),
 * whoever changed it: this sidebar, a notebook, the CLI or the SLO guard.
 */
export class CanaryToasts {
  constructor(private readonly dismiss: (id: string) => void) {}

  /** Toast `id` tells of `endpoint`'s canary as it now is; an earlier toast about that endpoint goes. */
  track(endpoint: string, canary: { version: string; weight: number }, id: string): void {
    const earlier = this._toasts.get(endpoint);
    if (earlier && earlier.id !== id) {
      this.dismiss(earlier.id);
    }
    this._toasts.set(endpoint, { id, version: canary.version, weight: canary.weight });
  }

  /** Dismiss the toasts whose canary the endpoints no longer run. */
  sync(endpoints: IEndpointView[]): void {
    for (const [name, toast] of [...this._toasts]) {
      const canary = endpoints.find(e => e.name === name)?.canary;
      if (!canary || canary.version !== toast.version || canary.weight !== toast.weight) {
        this._toasts.delete(name);
        this.dismiss(toast.id);
      }
    }
  }

  private _toasts = new Map<string, { id: string; version: string; weight: number }>();
}
