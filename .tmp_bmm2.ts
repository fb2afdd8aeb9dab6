import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './activities/train/backend';
async function main(){
  await initBackend('wasm');
  function time(name:string, f:()=>tf.Tensor|tf.Tensor[], n=5){
    tf.dispose(f());
    const t=performance.now(); for(let i=0;i<n;i++){ const r=f(); (Array.isArray(r)?r[0]:r).dataSync(); tf.dispose(r);} const ms=(performance.now()-t)/n; console.log(name.padEnd(40), ms.toFixed(2),'ms'); return ms;}
  for (const [BH,T,hd] of [[32,64,32],[64,128,64]]) {
    console.log(BH,T,hd);
    const q=tf.randomNormal([BH,T,hd]), kt=tf.randomNormal([BH,hd,T]), p=tf.randomNormal([BH,T,T]);
    time('batched qkT',()=>tf.matMul(q,kt));
    time('loop qkT',()=>tf.tidy(()=>{const a=tf.unstack(q), b=tf.unstack(kt); return tf.stack(a.map((x,i)=>tf.matMul(x,b[i])));}));
    time('batched PV',()=>tf.matMul(p,q));
    time('loop PV',()=>tf.tidy(()=>{const a=tf.unstack(p), b=tf.unstack(q); return tf.stack(a.map((x,i)=>tf.matMul(x,b[i])));}));
    const a2=tf.randomNormal([T,hd]), b2=tf.randomNormal([hd,T]);
    time('single 2d x100',()=>tf.tidy(()=>{let r; for(let i=0;i<100;i++) r=tf.matMul(a2,b2); return r!;}));
  }
}
main();
