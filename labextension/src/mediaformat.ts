// Pure formatting for the run's Media part (no DOM): tested in plain Node.
import type { ArtifactVersion } from './api';
import { formatBytes, plural } from './format';

/** The line under a table preview: `12 more rows`, or nothing when all are shown. */
export function moreRows(total: number, shown: number): string {
  const left = total - shown;
  return left > 0 ? `${left.toLocaleString('en-US')} more ${left === 1 ? 'row' : 'rows'}` : '';
}

/** The label of an image key's step slider: `step 40 (3 of 5)`. */
export function stepLabel(steps: number[], index: number): string {
  if (!steps.length) {
    return 'no steps';
  }
  const i = Math.min(Math.max(index, 0), steps.length - 1);
  return `step ${steps[i]} (${i + 1} of ${steps.length})`;
}

/** What a version is and where it came from, on one line: `model · 2.0 KB · made by base · used by 2 runs`. */
export function artifactLine(version: ArtifactVersion): string {
  const parts = [version.type];
  parts.push(version.source === 'reference' ? 'reference' : formatBytes(version.size));
  parts.push(version.producer ? `made by ${version.producer.name}` : 'maker unknown');
  const users = version.consumers.length;
  parts.push(users === 1 ? `used by ${version.consumers[0].name}` : `used by ${plural(users, 'run')}`);
  return parts.filter(Boolean).join(' · ');
}
