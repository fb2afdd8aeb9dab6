import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './activities/train/backend';
async function main(){
  await initBackend('wasm');
  const shapes: [number,number,number][] = JSON.parse(process.argv[2]);
  for (const [m,k,n] of shapes) {
    const a=tf.randomNormal([m,k]), b=tf.randomNormal([k,n]);
    let best=1e9; for(let i=0;i<4;i++){const t=performance.now(); const c=tf.matMul(a,b); c.dataSync(); c.dispose(); best=Math.min(best, performance.now()-t);}
    console.log(`${m}x${k}x${n}`.padEnd(16), best.toFixed(1),'ms', (2*m*k*n/best/1e6).toFixed(1),'GFLOP/s');
    tf.dispose([a,b]);
  }
}
main();
