import { backoffDelay, EventStream, ISocket } from '../events';
import { MaasEvent } from '../types';

class FakeSocket implements ISocket {
  constructor(readonly url: string) {}
  onopen: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  closed = false;
  close(): void {
    this.closed = true;
  }
  open(): void {
    this.onopen?.({});
  }
  drop(): void {
    this.onclose?.({});
  }
  /** An event as the server sends it: one JSON text message. */
  send(event: MaasEvent): void {
    this.sendRaw(JSON.stringify(event));
  }
  /** Any text at all: what a broken or newer server might send. */
  sendRaw(data: string): void {
    this.onmessage?.({ data });
  }
}

/** Timers that run only when the test says so. */
class ManualTimers {
  pending: Array<{ fn: () => void; ms: number; id: number }> = [];
  private next = 1;
  setTimeout(fn: () => void, ms: number): number {
    const id = this.next++;
    this.pending.push({ fn, ms, id });
    return id;
  }
  clearTimeout(id: number): void {
    this.pending = this.pending.filter(t => t.id !== id);
  }
  runNext(): number {
    const t = this.pending.shift()!;
    t.fn();
    return t.ms;
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const timers = new ManualTimers();
  const stream = new EventStream({
    url: () => 'ws://h/maas/api/events',
    socketFactory: url => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    timers,
    random: () => 0
  });
  const events: MaasEvent[] = [];
  const statuses: string[] = [];
  stream.event.connect((_, e) => events.push(e));
  stream.statusChanged.connect((_, s) => statuses.push(s));
  return { stream, sockets, timers, events, statuses };
}

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    const d = (n: number) => backoffDelay(n, 500, 15000, () => 0);
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(d)).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  it('adds at most 20% jitter', () => {
    expect(backoffDelay(0, 500, 15000, () => 1)).toBe(600);
  });
});

describe('EventStream', () => {
  it('emits the events it knows and ignores the rest, a kind a newer server adds included', () => {
    const { stream, sockets, events } = setup();
    stream.start();
    sockets[0].open();
    const changed: MaasEvent = { type: 'registry.changed', model: 'mnist', change: 'updated', seq: 1, at: 1700000000 };
    const undeployed: MaasEvent = { type: 'deployment.undeploy', name: 'ep', deployment: null, seq: 2, at: 1700000001 };
    sockets[0].send(changed);
    sockets[0].sendRaw('not json');
    sockets[0].sendRaw('null');
    sockets[0].sendRaw(JSON.stringify({ no: 'type' }));
    sockets[0].sendRaw(JSON.stringify({ type: 7 }));
    sockets[0].sendRaw(JSON.stringify({ type: 'deployment.scaled', name: 'ep', replicas: 3, seq: 3, at: 1700000002 }));
    sockets[0].send(undeployed);
    expect(events).toEqual([changed, undeployed]);
    expect(stream.status).toBe('open');
  });

  it('reconnects with growing delays after the server goes away, and resets once connected', () => {
    const { stream, sockets, timers, statuses } = setup();
    stream.start();
    sockets[0].open();
    sockets[0].drop(); // server restart
    expect(stream.status).toBe('closed');
    expect(timers.pending.map(t => t.ms)).toEqual([500]);
    expect(timers.runNext()).toBe(500);
    expect(sockets).toHaveLength(2);
    sockets[1].drop(); // still down
    expect(timers.runNext()).toBe(1000);
    sockets[2].drop();
    expect(timers.runNext()).toBe(2000);
    sockets[3].open(); // back
    expect(stream.status).toBe('open');
    expect(stream.attempts).toBe(0);
    sockets[3].drop();
    expect(timers.pending.map(t => t.ms)).toEqual([500]);
    expect(statuses).toEqual([
      'connecting',
      'open',
      'closed',
      'connecting',
      'closed',
      'connecting',
      'closed',
      'connecting',
      'open',
      'closed'
    ]);
  });

  it('stops reconnecting and closes the socket when disposed', () => {
    const { stream, sockets, timers } = setup();
    stream.start();
    sockets[0].open();
    sockets[0].drop();
    stream.dispose();
    expect(timers.pending).toHaveLength(0);
    stream.start();
    expect(sockets).toHaveLength(1);

    const other = setup();
    other.stream.start();
    other.stream.dispose();
    expect(other.sockets[0].closed).toBe(true);
    expect(other.timers.pending).toHaveLength(0);
  });
});
