// `node --import ./test/helpers/unbuilt-native.mjs ...`: @tensorflow/tfjs-node is installed but
// its native binding is not built, as after npm 12 skipped its unapproved install script;
// importing it throws what tfjs-node's own check throws then.
import { register } from 'node:module';

const thrown =
  'The Node.js native addon module (tfjs_binding.node) can not be found at path: ' +
  '/project/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node. ' +
  "\nPlease run command 'npm rebuild @tensorflow/tfjs-node --build-addon-from-source' to " +
  'rebuild the native addon module.';
const module = `throw new Error(${JSON.stringify(thrown)});`;

register(
  'data:text/javascript,' +
    encodeURIComponent(`export async function resolve(specifier, context, next) {
  if (specifier === '@tensorflow/tfjs-node' || specifier.startsWith('@tensorflow/tfjs-node/')) {
    return { url: 'data:text/javascript,' + encodeURIComponent(${JSON.stringify(module)}), shortCircuit: true };
  }
  return next(specifier, context);
}`),
);
