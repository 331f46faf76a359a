// Turns a JavaScript module into a firedrill scenario component with componentize-js
// (StarlingMonkey). Called by plugins/build from its npm tools directory:
//   node componentize-js.mjs SOURCE.js WIT_DIR OUT.wasm
// The jco CLI's `componentize` fails to read WIT directories on Node 20 here, while the
// library API works, hence this small wrapper.
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';

const [sourcePath, witPath, out] = process.argv.slice(2);
const { component } = await componentize({
  sourcePath,
  witPath,
  worldName: 'scenario',
  // The host links no wasi:http; the scenario's own `http` capability is what plugins use.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
