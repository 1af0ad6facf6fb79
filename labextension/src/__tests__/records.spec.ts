import { str, toJobView } from '../records';

describe('toJobView', () => {
  it("shows a failed job's reason, as the server's job rows carry it, and no reason of a job that did not fail", () => {
    expect(toJobView({ id: 3, name: 'm', state: 'FAILED', reason: 'ValueError: no data' }).error).toBe(
      'ValueError: no data'
    );
    expect(toJobView({ id: 4, name: 'm', state: 'CANCELLED', reason: 'cancelled' }).error).toBeNull();
    expect(toJobView({ id: 5, name: 'm', state: 'SUCCEEDED', reason: '' }).error).toBeNull();
    expect(toJobView({ id: 6, name: 'm', state: 'RUNNING' })).toMatchObject({ id: '6', state: 'RUNNING', error: null });
  });
});

describe('str', () => {
  it('shows scalars as text, nothing for a missing or empty field, and an object as its JSON', () => {
    expect(str('ready')).toBe('ready');
    expect(str(3)).toBe('3');
    expect(str(0)).toBe('0');
    expect(str(false)).toBe('false');
    expect(str('')).toBeNull();
    expect(str(null)).toBeNull();
    expect(str(undefined)).toBeNull();
    expect(str({ code: 'oom', message: 'out of memory' })).toBe('{"code":"oom","message":"out of memory"}');
    expect(str(['a', 1])).toBe('["a",1]');
  });
});
