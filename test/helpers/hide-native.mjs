// `node --import ./test/helpers/hide-native.mjs ...`: @tensorflow/tfjs-node cannot be
// found, as on a machine where npm skipped the optional dependency.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`export async function resolve(specifier, context, next) {
  if (specifier === '@tensorflow/tfjs-node' || specifier.startsWith('@tensorflow/tfjs-node/')) {
    const e = new Error("Cannot find package '@tensorflow/tfjs-node' (hidden by the test)");
    e.code = 'ERR_MODULE_NOT_FOUND';
    throw e;
  }
  return next(specifier, context);
}`),
);
