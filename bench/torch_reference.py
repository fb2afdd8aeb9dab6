"""PyTorch eager twin of the reference model in bench/train.ts (CPU, or CUDA with --device cuda), for a
tokens/s comparison.

Same architecture as activities/train/model/transformer.ts: token embedding tied to the head, RoPE,
pre-norm RMSNorm blocks with fused-QKV causal attention and a gated FFN (silu by default), AdamW
with grad-norm clipping, trained on random windows of the same BPE-tokenised Brown corpus.

usage: torch_reference.py --tokens FILE --steps N --d 256 --layers 4 --heads 4 --ffn-mult 4
                          --seq 128 --batch 16 --vocab 4096 --threads 2
                          [--device cuda --tf32 on|off|default --peak-size 8192]
prints one JSON line: {"tokensPerSec", "secondsPerStep", "peakGflops", "firstStepSeconds", "losses",
"device", and on CUDA "gpuName", "cuda", "cudnn", "tf32" (torch.backends.cuda.matmul.allow_tf32)}
On CUDA every timing ends with torch.cuda.synchronize(): kernels run asynchronously, so a host
clock read without it measures the launch, not the work.
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.gain


def rope_tables(seq, head_dim):
    half = head_dim // 2
    freq = 10000.0 ** (-torch.arange(half, dtype=torch.float32) / half)
    ang = torch.arange(seq, dtype=torch.float32)[:, None] * freq[None, :]
    return torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)


def rope(x, cos, sin):
    x1, x2 = x.chunk(2, -1)
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Block(torch.nn.Module):
    def __init__(self, d, heads, d_ff, act):
        super().__init__()
        self.heads = heads
        self.norm1 = RMSNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d, bias=False)
        self.o = torch.nn.Linear(d, d, bias=False)
        self.norm2 = RMSNorm(d)
        self.gate = torch.nn.Linear(d, d_ff, bias=False)
        self.up = torch.nn.Linear(d, d_ff, bias=False)
        self.down = torch.nn.Linear(d_ff, d, bias=False)
        self.act = act

    def forward(self, x, cos, sin):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, -1)
        shape = (b, t, self.heads, d // self.heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        # Eager attention written out (no fused SDPA kernel), like ours.
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 1)
        att = scores.masked_fill(mask, float('-inf')).softmax(-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, d))
        h = self.norm2(x)
        return x + self.down(self.act(self.gate(h)) * self.up(h))


class LM(torch.nn.Module):
    def __init__(self, vocab, d, layers, heads, d_ff, seq, act):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        torch.nn.init.normal_(self.emb.weight, std=d ** -0.5)  # as ours: logits O(1) at init
        self.blocks = torch.nn.ModuleList([Block(d, heads, d_ff, act) for _ in range(layers)])
        self.norm = RMSNorm(d)
        cos, sin = rope_tables(seq, d // heads)
        self.register_buffer('cos', cos)
        self.register_buffer('sin', sin)

    def forward(self, ids, labels):
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x, self.cos, self.sin)
        logits = self.norm(x) @ self.emb.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.reshape(-1))


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def matmul_peak(device, n=1024, reps=1):
    """Best GFLOP/s of an n³ float32 matmul (reps back to back per timing): the peak MFU is quoted
    against. On a GPU n=8192 and reps=10 keep launch overhead and the clock read out of it."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    sync(device)
    best = 0.0
    for _ in range(10 if device.type == 'cpu' else 5):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = max(best, reps * 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--tokens', required=True)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--d', type=int, default=256)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--heads', type=int, default=4)
    p.add_argument('--ffn-mult', type=float, default=4)
    p.add_argument('--seq', type=int, default=128)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--vocab', type=int, default=4096)
    p.add_argument('--activation', default='silu')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--tf32', default='default', choices=['on', 'off', 'default'],
                   help="torch.backends.cuda.matmul.allow_tf32 (PyTorch's default since 1.12: off)")
    p.add_argument('--peak-size', type=int, default=0, help='matmul peak size n (default 1024 on CPU, 8192 on CUDA)')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f'--device cuda: torch {torch.__version__} sees no CUDA device (built for CUDA {torch.version.cuda})')
    device = torch.device(args.device)
    if args.device == 'cuda' and args.tf32 != 'default':
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == 'on'
        torch.backends.cudnn.allow_tf32 = args.tf32 == 'on'

    raw = np.fromfile(args.tokens, dtype=np.uint16)
    train_len = int(raw[0]) + int(raw[1]) * 65536
    corpus = torch.from_numpy(raw[2:2 + train_len].astype(np.int64))
    corpus_dev = corpus.to(device)
    acts = {'silu': F.silu, 'relu': F.relu, 'gelu': lambda x: F.gelu(x, approximate='tanh'), 'relu2': lambda x: F.relu(x).square()}
    t_create = time.perf_counter()
    model = LM(args.vocab, args.d, args.layers, args.heads, round(args.ffn_mult * args.d), args.seq, acts[args.activation]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)

    def step():
        starts = torch.randint(0, len(corpus) - args.seq - 1, (args.batch,), generator=gen)
        win = torch.stack([corpus_dev[s:s + args.seq + 1] for s in starts.tolist()])
        loss = model(win[:, :-1], win[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    sync(device)
    create_seconds = time.perf_counter() - t_create
    # The first step pays CUDA context, cuBLAS/cuDNN handles and any kernel JIT (loss.item() syncs).
    t = time.perf_counter()
    step()
    first_step = time.perf_counter() - t
    for _ in range(max(0, args.warmup - 1)):
        step()
    losses = []
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        losses.append(step())
    sync(device)
    elapsed = time.perf_counter() - t
    peak_n = args.peak_size or (8192 if device.type == 'cuda' else 1024)
    out = {
        'tokensPerSec': args.steps * args.batch * args.seq / elapsed,
        'secondsPerStep': elapsed / args.steps,
        'peakGflops': matmul_peak(device, peak_n, 10 if device.type == 'cuda' else 1),
        'peakSize': peak_n,
        'createSeconds': create_seconds,
        'firstStepSeconds': first_step,
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'device': args.device,
        'losses': losses,
    }
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        out.update({
            'gpuName': props.name,
            'gpuMemoryMiB': props.total_memory // 2**20,
            'computeCapability': f'{props.major}.{props.minor}',
            'cuda': torch.version.cuda,
            'cudnn': torch.backends.cudnn.version(),
            'tf32': bool(torch.backends.cuda.matmul.allow_tf32),
            'cudnnTf32': bool(torch.backends.cudnn.allow_tf32),
            'maxMemoryAllocatedMiB': torch.cuda.max_memory_allocated(device) / 2**20,
        })
    print(json.dumps(out))


if __name__ == '__main__':
    main()
