import type { ArtifactVersion } from '../src/api';
import { artifactLine, moreRows, stepLabel } from '../src/mediaformat';

describe('moreRows', () => {
  it('says how many rows the preview left out', () => {
    expect(moreRows(30, 20)).toBe('10 more rows');
    expect(moreRows(21, 20)).toBe('1 more row');
    expect(moreRows(12345, 20)).toBe('12,325 more rows');
    expect(moreRows(20, 20)).toBe('');
  });
});

describe('stepLabel', () => {
  it('names the step and its place, clamping the index', () => {
    expect(stepLabel([0, 10, 40], 2)).toBe('step 40 (3 of 3)');
    expect(stepLabel([0, 10, 40], 0)).toBe('step 0 (1 of 3)');
    expect(stepLabel([0, 10, 40], 9)).toBe('step 40 (3 of 3)');
    expect(stepLabel([], 0)).toBe('no steps');
  });
});

describe('artifactLine', () => {
  const base: ArtifactVersion = {
    ref: 'model:v1',
    name: 'model',
    version: 1,
    type: 'model',
    size: 2048,
    files: 1,
    source: 'files',
    aliases: [],
    created_at: null,
    producer: { id: 'a1', name: '<b>base</b>' },
    consumers: []
  };
  it('names the maker and the users', () => {
    expect(artifactLine(base)).toBe('model · 2.0 KB · made by <b>base</b> · used by 0 runs');
    const one = { ...base, consumers: [{ id: 'b', name: 'eval' }] };
    expect(artifactLine(one)).toBe('model · 2.0 KB · made by <b>base</b> · used by eval');
    const ref = {
      ...base,
      source: 'reference',
      producer: null,
      consumers: [one.consumers[0], one.consumers[0]]
    };
    expect(artifactLine(ref)).toBe('model · reference · maker unknown · used by 2 runs');
  });
});
