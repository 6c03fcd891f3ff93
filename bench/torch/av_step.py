"""PyTorch twin of pretext's audio-visual correspondence network (trainer/model
AV, configs/train-av.yaml; BenchmarkCorrespondStep/frame128): frame tower
128x128x3 -> conv3x3 8 (stride 1) -> conv3x3 16, 32, 32 (stride 2), ReLU after
each, averaged over space (32); log-mel tower on 98x64 windows (scaled by 1/4)
-> conv3x3 16, 32, 32 (stride 2), ReLU after each, averaged over time and
flattened over the 8 bands left (256); head: the two embeddings concatenated,
dense 64 + ReLU, dense 1: one logit, sigmoid binary cross-entropy. Adam lr 1e-3,
random frames and log-mels, labels alternating 0/1; prints examples/s of
training steps (the first, warm-up, steps not timed).
GoMLX's "same" padding puts (k-1)/2 zeros before and k/2 after; for k = 3
that is 1 and 1, PyTorch's padding=1, and with either the output is
ceil(n/stride) for even and odd n, taps at the same places, so no F.pad.
Usage: av_step.py BATCH STEPS THREADS"""
import sys
from timing import report
import torch
import torch.nn as nn
import torch.nn.functional as F

batch, steps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(42)
SIZE, MEL_FRAMES, MEL_BINS = 128, 98, 64
FRAME, AUDIO, HIDDEN = [8, 16, 32, 32], [16, 32, 32], 64


def tower(in_ch, widths, first_stride):
    layers = []
    for i, ch in enumerate(widths):
        layers += [nn.Conv2d(in_ch, ch, 3, first_stride if i == 0 else 2, 1), nn.ReLU()]
        in_ch = ch
    return nn.Sequential(*layers)


class AV(nn.Module):
    def __init__(self):
        super().__init__()
        self.frame = tower(3, FRAME, 1)
        self.audio = tower(1, AUDIO, 2)
        bands = MEL_BINS
        for _ in AUDIO:
            bands = (bands + 1) // 2
        self.hidden = nn.Linear(FRAME[-1] + bands * AUDIO[-1], HIDDEN)
        self.logit = nn.Linear(HIDDEN, 1)

    def forward(self, frames, mel):
        f = self.frame(frames).mean(dim=(2, 3))
        s = self.audio(mel.unsqueeze(1) * 0.25).mean(dim=2).flatten(1)
        x = F.relu(self.hidden(torch.cat([f, s], dim=1)))
        return self.logit(x).squeeze(1)


model = AV()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
frames = torch.rand(batch, 3, SIZE, SIZE)
mel = torch.randn(batch, MEL_FRAMES, MEL_BINS) - 2
y = (torch.arange(batch) % 2).float()
def step():
    opt.zero_grad()
    loss = F.binary_cross_entropy_with_logits(model(frames, mel), y)
    loss.backward()
    opt.step()
report(step, model, batch, steps, threads)
