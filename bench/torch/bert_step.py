"""PyTorch twin of pretext's BERT pretraining model (trainer/model BERT.Pretrain
and PretrainLoss) at the size of configs/train-bert-bench.yaml: 2 layers,
width 64, 2 heads, intermediate 256, post-LN (layer norm epsilon 1e-3, GoMLX's
default), 64 positions, a 4,000-piece vocabulary (bench/text-benefit).
Embeddings token + segment + learned positions, then layer norm; each layer
multi-head attention (Q, K, V and output projections with biases, all keys
real), add & norm, FFN with exact GELU, add & norm. MLM head on 10 masked
positions per row (ceil(0.15*64)) gathered from the flat hidden states:
dense + GELU + layer norm + dense to the vocabulary (not tied to the
embeddings); NSP head: tanh pooler on [CLS] + dense to 1 logit. Loss: MLM
cross-entropy + NSP binary cross-entropy. Adam lr 1e-3, random rows, no
dropout; prints examples/s of training steps (the first, warm-up, steps not
timed).
Debian's python3-torch runs nn.Linear's matmuls on the system libblas.so.3:
with only libblas3 (the reference BLAS) installed they run at 2-3 GFLOP/s
and this model trains ~4x slower than on OpenBLAS (libopenblas0-pthread).
Usage: bert_step.py BATCH STEPS THREADS"""
import math, sys
from timing import report
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, SEQ, WIDTH, HEADS, INTER, LAYERS, EPS = 4000, 64, 64, 2, 256, 2, 1e-3
PREDS = math.ceil(0.15 * SEQ)

batch, steps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(42)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
        self.attention_norm = nn.LayerNorm(WIDTH, eps=EPS)
        self.ffn_in = nn.Linear(WIDTH, INTER)
        self.ffn_out = nn.Linear(INTER, WIDTH)
        self.ffn_norm = nn.LayerNorm(WIDTH, eps=EPS)

    def forward(self, x, pad):
        a, _ = self.attention(x, x, x, key_padding_mask=pad, need_weights=False)
        x = self.attention_norm(x + a)
        return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class BERT(nn.Module):
    def __init__(self):
        super().__init__()
        self.token = nn.Embedding(VOCAB, WIDTH)
        self.segment = nn.Embedding(2, WIDTH)
        self.position = nn.Parameter(torch.randn(SEQ, WIDTH) * 0.02)
        self.embeddings_norm = nn.LayerNorm(WIDTH, eps=EPS)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.mlm_transform = nn.Linear(WIDTH, WIDTH)
        self.mlm_norm = nn.LayerNorm(WIDTH, eps=EPS)
        self.mlm_output = nn.Linear(WIDTH, VOCAB)
        self.pooler = nn.Linear(WIDTH, WIDTH)
        self.nsp = nn.Linear(WIDTH, 1)

    def forward(self, ids, segments, mask, flat_pos):
        b, s = ids.shape
        x = self.token(ids) + self.segment(segments) + self.position[:s]
        x = self.embeddings_norm(x)
        pad = mask == 0
        for layer in self.layers:
            x = layer(x, pad)
        m = x.reshape(b * s, WIDTH).index_select(0, flat_pos)
        m = self.mlm_norm(F.gelu(self.mlm_transform(m)))
        nsp = self.nsp(torch.tanh(self.pooler(x[:, 0]))).reshape(b)
        return self.mlm_output(m), nsp


model = BERT()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
ids = torch.randint(VOCAB, (batch, SEQ))
segments = (torch.arange(SEQ) >= SEQ // 2).long().expand(batch, SEQ)
mask = torch.ones(batch, SEQ, dtype=torch.long)
flat_pos = torch.cat([r * SEQ + 1 + torch.randperm(SEQ - 1)[:PREDS] for r in range(batch)])
targets = torch.randint(VOCAB, (batch * PREDS,))
nsp_labels = torch.randint(2, (batch,)).float()


def step():
    opt.zero_grad()
    mlm, nsp = model(ids, segments, mask, flat_pos)
    loss = F.cross_entropy(mlm, targets) + F.binary_cross_entropy_with_logits(nsp, nsp_labels)
    loss.backward()
    opt.step()


report(step, model, batch, steps, threads)
