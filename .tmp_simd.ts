import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './activities/train/backend';
async function main(){ await initBackend('wasm'); console.log('simd', await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), 'threads', await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')); }
main();
