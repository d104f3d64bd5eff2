// Entry for running from TypeScript sources (tests, tsx): registers tsx in this worker
// thread, then loads the real entry. Built packages use dist/workers/compute.js.
import { register } from 'tsx/esm/api';

register();
const mod = await import('./compute.ts');
export default mod.default;
