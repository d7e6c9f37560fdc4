import { FRESH_MS, opensNow, parseRequest } from '../src/openrequest';

describe('parseRequest', () => {
  it('reads what nbtrack.workspace() writes', () => {
    expect(parseRequest({ store: 'exp/.nbtrack', near: null, project: null, at: 5, id: 'x' })).toEqual({
      store: 'exp/.nbtrack',
      near: null,
      project: null,
      at: 5,
      id: 'x'
    });
    expect(parseRequest({ store: '', at: 5, id: 'x' })?.store).toBeNull();
  });
  it('refuses anything else', () => {
    expect(parseRequest(null)).toBeNull();
    expect(parseRequest('text')).toBeNull();
    expect(parseRequest({ store: 'a' })).toBeNull();
  });
});

describe('opensNow', () => {
  const request = { store: null, near: '.nbtrack', project: null, at: 1_000_000, id: 'a' };
  it('opens a fresh request once', () => {
    expect(opensNow(request, 1_000_500, new Set())).toBe(true);
    expect(opensNow(request, 1_000_500, new Set(['a']))).toBe(false);
  });
  it('leaves a saved output reopened later to its button', () => {
    expect(opensNow(request, 1_000_000 + FRESH_MS + 1, new Set())).toBe(false);
  });
});
