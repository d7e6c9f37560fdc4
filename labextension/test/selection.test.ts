import { clickSelect, pollDelay } from '../src/selection';

const order = ['a', 'b', 'c', 'd', 'e'];

describe('clickSelect', () => {
  it('selects only the clicked run on a plain click', () => {
    expect(clickSelect(order, ['a', 'c'], 'd', 'only', 'a')).toEqual(['d']);
  });

  it('toggles with ctrl/cmd or the checkbox, keeping list order', () => {
    expect(clickSelect(order, ['c'], 'a', 'toggle', 'c')).toEqual(['a', 'c']);
    expect(clickSelect(order, ['a', 'c'], 'a', 'toggle', 'c')).toEqual(['c']);
  });

  it('adds a range from the anchor with shift, in either direction', () => {
    expect(clickSelect(order, ['a'], 'c', 'range', 'a')).toEqual(['a', 'b', 'c']);
    expect(clickSelect(order, ['e'], 'c', 'range', 'e')).toEqual(['c', 'd', 'e']);
    expect(clickSelect(order, [], 'c', 'range', null)).toEqual(['c']);
  });

  it('keeps selected runs the filter hides', () => {
    expect(clickSelect(['b', 'c'], ['z', 'b'], 'c', 'toggle', 'b')).toEqual(['b', 'c', 'z']);
  });
});

describe('pollDelay', () => {
  it('polls fast while runs log, slowly otherwise, never while hidden', () => {
    expect(pollDelay(true, 2)).toBe(2000);
    expect(pollDelay(true, 0)).toBe(10000);
    expect(pollDelay(false, 5)).toBeNull();
  });
});
