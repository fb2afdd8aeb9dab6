import { brownTokens } from './activities/train/data/brown';
import { readBrownDocuments } from './activities/train/data/brownText';
const t0=performance.now();
console.log(readBrownDocuments()[0].text.slice(0,400));
for (const v of [512, 4096]) {
const b = brownTokens(v);
console.log(v, 'train', b.train.length, 'val', b.val.length, 'ms', performance.now()-t0);
console.log(JSON.stringify(b.tokenizer.decode(b.val.slice(0,60))));
}
