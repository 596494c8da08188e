/**
 * Vitest global setup of this project: builds `dist/` (see `scripts/build.ts`) before
 * any test runs, so the tests that start the CLI through its bin run the current
 * sources, as an operator's install would run them.
 */
import { buildCli } from '../scripts/build.js';

export default async function setup(): Promise<void> {
  await buildCli();
}
