"""The same training steps in PyTorch on one thread (a yardstick for `npm run bench -- --train`).

Prints one JSON line: the median ms of an RMSprop training step of the synthetic MLP
(256-2048-1024-16, relu, MSE, batch 128) and of the CNN (Conv2D 8 3x3 relu, MaxPool 2,
Dense 10, softmax cross-entropy, batch 64 of 28x28x1).
"""
import json
import statistics
import sys
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(0)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def median_ms(model, x, y, loss_fn):
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
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


mlp = torch.nn.Sequential(
    torch.nn.Linear(256, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 16)
)
cnn = torch.nn.Sequential(
    torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(8 * 13 * 13, 10)
)
result = {
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "mlpMs": median_ms(mlp, torch.rand(128, 256) * 2 - 1, torch.rand(128, 16) * 2 - 1, torch.nn.functional.mse_loss),
    "cnnMs": median_ms(cnn, torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,)), torch.nn.functional.cross_entropy),
}
print(json.dumps(result))
