// Entry for running from TypeScript sources (tests, tsx): registers tsx in this worker
// thread, then loads the real entry. Built packages use dist/workers/trainer.js.
import { register } from 'tsx/esm/api';

register();
await import('./trainer.ts');
