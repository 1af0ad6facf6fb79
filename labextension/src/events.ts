import { ISignal, Signal } from '@lumino/signaling';

import { EVENT_TYPES, MaasEvent } from './events.generated';

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * Whether a parsed stream message is one of the events this client knows. A newer server may publish
 * kinds this client has no use for: they are not emitted. The server's own tests hold what it publishes
 * to events.schema.json, so a known type is trusted to carry that type's fields.
 */
export function isMaasEvent(message: unknown): message is MaasEvent {
  const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
  return typeof type === 'string' && KNOWN_TYPES.has(type);
}

/** The minimal WebSocket surface the stream uses (the browser's, or a fake in tests). */
export interface ISocket {
  onopen: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  close(): void;
}

export type SocketFactory = (url: string) => ISocket;

/** Timers, injectable so tests can drive reconnection without waiting. */
export interface ITimers {
  setTimeout(fn: () => void, ms: number): any;
  clearTimeout(handle: any): void;
}

export type StreamStatus = 'connecting' | 'open' | 'closed';

/**
 * Delay before reconnect attempt `attempt` (0-based): doubling from `base`, capped at `max`,
 * with up to 20% jitter so many tabs do not reconnect in lockstep after a server restart.
 */
export function backoffDelay(attempt: number, base = 500, max = 15000, random = Math.random): number {
  const plain = Math.min(max, base * Math.pow(2, Math.max(0, attempt)));
  return Math.round(plain * (1 + 0.2 * random()));
}

/**
 * The maas/api/events stream: a WebSocket of JSON messages, each a MaasEvent, reconnected with
 * backoff whenever it drops (a server restart), until disposed.
 */
export class EventStream {
  constructor(options: { url: () => string; socketFactory?: SocketFactory; timers?: ITimers; random?: () => number }) {
    this._url = options.url;
    this._factory = options.socketFactory ?? ((url: string) => new WebSocket(url) as unknown as ISocket);
    this._timers = options.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: handle => clearTimeout(handle)
    };
    this._random = options.random ?? Math.random;
  }

  /** Every parsed message whose "type" is one of EVENT_TYPES; other messages are dropped. */
  get event(): ISignal<this, MaasEvent> {
    return this._event;
  }

  /** Emits when the connection opens or closes. */
  get statusChanged(): ISignal<this, StreamStatus> {
    return this._statusChanged;
  }

  get status(): StreamStatus {
    return this._status;
  }

  /** How many reconnect attempts have failed in a row (0 while open). */
  get attempts(): number {
    return this._attempt;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Open the stream (no-op if already started). */
  start(): void {
    if (this._disposed || this._socket || this._timer !== null) {
      return;
    }
    this._connect();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    if (this._timer !== null) {
      this._timers.clearTimeout(this._timer);
      this._timer = null;
    }
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onclose = socket.onerror = socket.onmessage = socket.onopen = null;
      socket.close();
    }
    Signal.clearData(this);
  }

  private _connect(): void {
    this._setStatus('connecting');
    let socket: ISocket;
    try {
      socket = this._factory(this._url());
    } catch {
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    socket.onopen = () => {
      this._attempt = 0;
      this._setStatus('open');
    };
    socket.onmessage = ev => {
      let message: unknown;
      try {
        message = typeof ev.data === 'string' ? JSON.parse(ev.data) : ev.data;
      } catch {
        return; // not JSON: ignore rather than break the stream
      }
      if (isMaasEvent(message)) {
        this._event.emit(message);
      }
    };
    socket.onerror = () => {
      // onclose follows an error; reconnection is handled there.
    };
    socket.onclose = () => {
      if (this._socket !== socket) {
        return;
      }
      this._socket = null;
      this._setStatus('closed');
      this._scheduleReconnect();
    };
  }

  private _scheduleReconnect(): void {
    if (this._disposed) {
      return;
    }
    const delay = backoffDelay(this._attempt, 500, 15000, this._random);
    this._attempt += 1;
    this._timer = this._timers.setTimeout(() => {
      this._timer = null;
      if (!this._disposed) {
        this._connect();
      }
    }, delay);
  }

  private _setStatus(status: StreamStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private _url: () => string;
  private _factory: SocketFactory;
  private _timers: ITimers;
  private _random: () => number;
  private _socket: ISocket | null = null;
  private _timer: any = null;
  private _attempt = 0;
  private _status: StreamStatus = 'closed';
  private _disposed = false;
  private _event = new Signal<this, MaasEvent>(this);
  private _statusChanged = new Signal<this, StreamStatus>(this);
}
