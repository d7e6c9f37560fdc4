import * as fs from 'fs';
import * as path from 'path';

import {
  countLine,
  folderOf,
  formatBytes,
  formatCell,
  formatAge,
  formatDuration,
  formatTime,
  formatNumber,
  formatValue,
  MISSING,
  notebookStore,
  parseTags,
  parseTime,
  plural,
  statusLabel,
  storeLabel,
  Value,
  wireNumber
} from '../src/format';

// The cases nbtrack/formatting.py is tested against too (tests/test_formatting.py).
interface Case {
  in: Value;
  out: string;
  digits?: number;
}
const CASES = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'tests', 'formatting_cases.json'), 'utf-8')
) as Record<'number' | 'value' | 'duration' | 'size' | 'time_utc', Case[]>;

describe('the cases shared with nbtrack/formatting.py', () => {
  it.each(CASES.number.map(c => [c.in, c.digits ?? 4, c.out]))(
    'number %p (%p digits) -> %p',
    (value, digits, text) => {
      const number = value === null ? null : (wireNumber(value as Value) ?? Number(value));
      expect(typeof value === 'boolean' ? formatValue(value) : formatNumber(number, digits as number)).toBe(
        text
      );
    }
  );

  it.each(CASES.value.map(c => [c.in, c.out]))('value %p -> %p', (value, text) => {
    expect(formatValue(value as Value)).toBe(text);
  });

  it.each(CASES.duration.map(c => [c.in, c.out]))('duration %p -> %p', (value, text) => {
    expect(formatDuration(value as number | string | null)).toBe(text);
  });

  it.each(CASES.size.map(c => [c.in, c.out]))('size %p -> %p', (value, text) => {
    expect(formatBytes(value === null ? null : (wireNumber(value as Value) ?? Number(value)))).toBe(text);
  });

  it.each(CASES.time_utc.map(c => [c.in, c.out]))('UTC time %p -> %p', (value, text) => {
    expect(formatTime(value as string | null, true)).toBe(text);
  });

  it('has cases of every kind', () => {
    expect(CASES.number.length).toBeGreaterThan(20);
    expect(CASES.duration.length).toBeGreaterThan(10);
  });
});

describe('formatCell', () => {
  it('shows a runs table as people read it', () => {
    const local = formatTime('2024-05-01T10:00:00.123456Z');
    expect(formatCell('created_at', '2024-05-01T10:00:00.123456Z')).toBe(local);
    expect(local).not.toContain('.');
    expect(formatCell('duration', 0.007322)).toBe('7 ms');
    expect(formatCell('duration', 65.2)).toBe('1m 05s');
    expect(formatCell('tags', ['cnn', 'small'])).toBe('cnn, small');
    expect(formatCell('summary.loss', 0.30000000000000004)).toBe('0.3');
    expect(formatCell('summary.loss', 'Infinity')).toBe('inf');
    expect(formatCell('config.lr', null)).toBe(MISSING);
    expect(formatCell('name', 'baseline')).toBe('baseline');
  });
});

describe('formatDuration', () => {
  it('shows a dash for what is not a duration', () => {
    expect(formatDuration(undefined)).toBe(MISSING);
    expect(formatDuration(Number.NaN)).toBe(MISSING);
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
