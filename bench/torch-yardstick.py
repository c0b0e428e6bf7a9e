"""The same training steps in PyTorch (a yardstick for `npm run bench -- --train`).

Usage: torch-yardstick.py STEPS THREADS. Prints one JSON line: the median ms of an RMSprop
training step of each model on THREADS threads, after 3 warm-up steps:
- the synthetic MLP (256-2048-1024-16, relu, MSE, batch 128);
- the small CNN (Conv2D 8 3x3 relu, MaxPool 2, Dense 10, softmax cross-entropy, batch 64 of 28x28x1);
- tfjs-examples' mnist-node CNN (Conv 32, 32, MaxPool, Conv 64, 64, MaxPool, Dropout 0.25,
  Dense 512, Dropout 0.5, Dense 10; batch 64);
- its sentiment CNN (Embedding 10,000 x 128 of 100 words, Dropout 0.5, Conv1D 250 x 5, global
  max-pool, Dense 250, Dense 1, binary cross-entropy; batch 64);
- its jena-weather GRU (32 units over 240 steps of 14 features, Dense 1, mean absolute error; batch 128);
- its lstm-text-generation LSTM (128 units over 40 steps of 70 one-hot characters, Dense 70,
  categorical cross-entropy; batch 128).
"""
import json
import statistics
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
torch.manual_seed(0)
nn = torch.nn
F = torch.nn.functional


def median_ms(model, x, y, loss_fn):
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    model.train()
    times = []
    for s in range(steps + 3):
        started = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if s >= 3:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


class Sentiment(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10000, 128)
        self.dropout = nn.Dropout(0.5)
        self.conv = nn.Conv1d(128, 250, 5)
        self.dense = nn.Linear(250, 250)
        self.out = nn.Linear(250, 1)

    def forward(self, ids):
        x = self.dropout(self.embedding(ids)).transpose(1, 2)
        x = F.relu(self.conv(x)).amax(dim=2)
        return self.out(F.relu(self.dense(x))).squeeze(1)


class LastStep(nn.Module):
    """A recurrent layer's last output into a Dense layer, as a tfjs-layers recurrent layer returns it."""

    def __init__(self, rnn, units, outputs):
        super().__init__()
        self.rnn = rnn
        self.dense = nn.Linear(units, outputs)

    def forward(self, x):
        return self.dense(self.rnn(x)[0][:, -1])


mlp = nn.Sequential(nn.Linear(256, 2048), nn.ReLU(), nn.Linear(2048, 1024), nn.ReLU(), nn.Linear(1024, 16))
cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 13 * 13, 10))
mnist_node = nn.Sequential(
    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Dropout(0.25), nn.Linear(1024, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10),
)  # fmt: skip
gru = LastStep(nn.GRU(14, 32, batch_first=True), 32, 1)
lstm = LastStep(nn.LSTM(70, 128, batch_first=True), 128, 70)
result = {
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "mlpMs": median_ms(mlp, torch.rand(128, 256) * 2 - 1, torch.rand(128, 16) * 2 - 1, F.mse_loss),
    "cnnMs": median_ms(cnn, torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,)), F.cross_entropy),
    "mnistNodeMs": median_ms(mnist_node, torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,)), F.cross_entropy),
    "sentimentMs": median_ms(
        Sentiment(), torch.randint(0, 10000, (64, 100)), torch.randint(0, 2, (64,)).float(), F.binary_cross_entropy_with_logits
    ),
    "gruMs": median_ms(gru, torch.rand(128, 240, 14), torch.rand(128, 1), F.l1_loss),
    "lstmMs": median_ms(lstm, torch.rand(128, 40, 70), torch.randint(0, 70, (128,)), F.cross_entropy),
}
print(json.dumps(result))
