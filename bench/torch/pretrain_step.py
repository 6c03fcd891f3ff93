"""PyTorch twin of pretext's MNIST pretraining model (trainer/model DefaultConv):
32x32x1 -> conv3x3 16 (stride 1) -> conv3x3 32 (stride 2) -> conv3x3 32 (stride 2),
ReLU after each; decoder: nearest 2x upsampling + conv3x3 16, ReLU, 2x + conv3x3 8,
ReLU, conv3x3 1. Adam lr 2e-3, mean squared error, random images; prints
examples/s of training steps (the first, warm-up, steps not timed).
Usage: pretrain_step.py BATCH STEPS THREADS"""
import sys
from timing import report
import torch
import torch.nn as nn

batch, steps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(42)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(),
    nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
    nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(),
    nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(32, 16, 3, 1, 1), nn.ReLU(),
    nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(16, 8, 3, 1, 1), nn.ReLU(),
    nn.Conv2d(8, 1, 3, 1, 1),
)
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
x = torch.rand(batch, 1, 32, 32)
def step():
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(x), x)
    loss.backward()
    opt.step()
report(step, model, batch, steps, threads)
