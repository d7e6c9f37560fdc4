// What the notebook widgets' front-ends (nbtrack/widgets/js/panel.js, compare.js) share with
// the sidebar: the typed, jest-tested helpers, bundled by esbuild into
// nbtrack/widgets/static/kit.js as the global `nbtrackKit` (jlpm build:widgets), which
// nbtrack/widgets/_bundle.py puts ahead of each widget's module.
export { el } from './dom';
export {
  formatBytes,
  formatCell,
  formatDuration,
  formatNumber,
  formatTime,
  formatValue,
  MISSING,
  wireNumber
} from './format';
