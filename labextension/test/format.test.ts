import {
  countLine,
  folderOf,
  formatAge,
  formatDuration,
  formatTime,
  formatValue,
  notebookStore,
  parseTags,
  parseTime,
  plural,
  statusLabel,
  storeLabel
} from '../src/format';

describe('formatDuration', () => {
  it.each([
    [0, '0.0s'],
    [4.25, '4.3s'],
    [42, '42s'],
    [90, '1m 30s'],
    [3725, '1h 2m'],
    [90061, '1d 1h']
  ])('%p seconds -> %p', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it('shows a dash for what is not a duration', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(undefined)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
  });
});

describe('times', () => {
  const now = new Date('2024-05-01T12:00:00Z');

  it('reads times without a zone as UTC', () => {
    expect(parseTime('2024-05-01T10:00:00')?.toISOString()).toBe('2024-05-01T10:00:00.000Z');
    expect(parseTime('2024-05-01T10:00:00.000Z')?.toISOString()).toBe('2024-05-01T10:00:00.000Z');
    expect(parseTime('2024-05-01T12:00:00+02:00')?.toISOString()).toBe('2024-05-01T10:00:00.000Z');
    expect(parseTime('not a time')).toBeNull();
    expect(parseTime(null)).toBeNull();
  });

  it('says how long ago', () => {
    expect(formatAge('2024-05-01T11:59:50Z', now)).toBe('just now');
    expect(formatAge('2024-05-01T11:55:00Z', now)).toBe('5m ago');
    expect(formatAge('2024-05-01T09:00:00Z', now)).toBe('3h ago');
    expect(formatAge('2024-04-29T12:00:00Z', now)).toBe('2d ago');
    expect(formatAge('2024-05-01T12:00:30Z', now)).toBe('just now'); // clocks a little apart
    expect(formatAge('2023-01-02T12:00:00Z', now)).toMatch(/^2023-01-0[23]$/);
    expect(formatAge(null, now)).toBe('—');
  });

  it('writes local times in full', () => {
    const text = formatTime('2024-05-01T10:00:00Z');
    const local = new Date('2024-05-01T10:00:00Z');
    const pad = (n: number): string => String(n).padStart(2, '0');
    const date = `${local.getFullYear()}-${pad(local.getMonth() + 1)}-${pad(local.getDate())}`;
    expect(text).toBe(`${date} ${pad(local.getHours())}:${pad(local.getMinutes())}:00`);
    expect(formatTime(undefined)).toBe('—');
  });
});

describe('statusLabel', () => {
  it('names known statuses and keeps unknown ones neutral', () => {
    expect(statusLabel('running')).toEqual({
      text: 'running',
      className: 'nbtrack-status nbtrack-status-running'
    });
    expect(statusLabel('crashed').className).toContain('nbtrack-status-crashed');
    for (const status of ['interrupted', 'pruned']) {
      expect(statusLabel(status).className).toBe(`nbtrack-status nbtrack-status-${status}`);
    }
    expect(statusLabel('weird')).toEqual({
      text: 'weird',
      className: 'nbtrack-status nbtrack-status-unknown'
    });
    expect(statusLabel('').text).toBe('unknown');
  });

  it('never puts user text into a class name', () => {
    expect(statusLabel('x" onclick="y').className).toBe('nbtrack-status nbtrack-status-unknown');
  });
});

describe('formatValue', () => {
  it.each([
    [0.123456, '0.1235'],
    [42, '42'],
    [1234567, '1.235e+6'],
    [0.0000123, '1.23e-5'],
    [0, '0'],
    [-2.5, '-2.5'],
    [true, 'True'],
    ['adam', 'adam'],
    ['NaN', 'NaN'],
    [null, '—'],
    [[1, 2], '[1,2]'],
    [{ a: 1 }, '{"a":1}']
  ])('%p -> %p', (value, text) => {
    expect(formatValue(value)).toBe(text);
  });
});

describe('tags and paths', () => {
  it('parses tags typed by a person', () => {
    expect(parseTags(' cnn, big  #small,cnn ')).toEqual(['cnn', 'big', 'small']);
    expect(parseTags('')).toEqual([]);
  });

  it('finds a notebook folder and its store', () => {
    expect(folderOf('exp/mnist/train.ipynb')).toBe('exp/mnist');
    expect(folderOf('train.ipynb')).toBe('');
    expect(notebookStore('exp/train.ipynb')).toBe('exp/.nbtrack');
    expect(notebookStore('train.ipynb')).toBe('.nbtrack');
    expect(storeLabel('exp/.nbtrack')).toBe('exp');
    expect(storeLabel('.nbtrack')).toBe('(root)');
    expect(storeLabel('data/custom')).toBe('data/custom');
  });

  it('counts', () => {
    expect(plural(1, 'run')).toBe('1 run');
    expect(plural(2, 'run')).toBe('2 runs');
    expect(countLine(3, 3, 0)).toBe('3 runs');
    expect(countLine(3, 3, 1)).toBe('3 runs · 1 running');
    expect(countLine(200, 10000, 2)).toBe('200 of 10000 runs · 2 running');
  });
});
