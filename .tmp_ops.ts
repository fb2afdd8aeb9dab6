import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
async function main(){
  await tf.setBackend('wasm'); await tf.ready();
  function time(name:string, f:()=>tf.Tensor|tf.Tensor[], n=5){
    tf.dispose(f());
    const t=performance.now(); for(let i=0;i<n;i++){ const r=f(); (Array.isArray(r)?r[0]:r).dataSync(); tf.dispose(r);} const ms=(performance.now()-t)/n; console.log(name.padEnd(40), ms.toFixed(2),'ms'); return ms;}
  for (const [BH,T,hd] of [[32,64,32],[64,128,64]]) {
    console.log('BH,T,hd',BH,T,hd);
    const x = tf.randomNormal([BH,T,hd]);
    time('unstack', ()=>tf.unstack(x));
    time('split axis0', ()=>tf.split(x, BH, 0));
    const x2 = tf.reshape(x,[BH*T,hd]);
    time('slice rows of 2D', ()=>Array.from({length:BH},(_,i)=>tf.slice(x2,[i*T,0],[T,hd])));
    time('slice 3D', ()=>Array.from({length:BH},(_,i)=>tf.slice(x,[i,0,0],[1,T,hd])));
    const xs = tf.unstack(x);
    time('stack', ()=>tf.stack(xs));
    time('concat axis0 of 2D', ()=>tf.concat(xs,0));
    const N = BH*T/ (hd===32?2:4) ; const d = hd*(hd===32?2:4);
    const y = tf.randomNormal([N, d]);
    time('reverse halves', ()=>tf.reshape(tf.reverse(tf.reshape(y,[N, d/hd, 2, hd/2]),2),[N,d]));
    time('split+concat halves', ()=>tf.tidy(()=>{ const r=tf.reshape(y,[N*d/hd, hd]); const [a,b]=tf.split(r,2,1); return tf.reshape(tf.concat([b,a],1),[N,d]);}));
    const P = tf.randomNormal([d,d]);
    time('matmul perm', ()=>tf.matMul(y,P));
    const emb = tf.randomNormal([hd===32?512:4096, d]); const ids = tf.tensor1d(Array.from({length:N},(_,i)=>i*7%512),'int32');
    time('gather', ()=>tf.gather(emb, ids));
    time('transpose 0213', ()=>tf.transpose(tf.reshape(y,[N/T, T, d/hd, hd]),[0,2,1,3]));
  }
}
main();
