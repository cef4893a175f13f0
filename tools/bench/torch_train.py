"""PyTorch CPU side of razor's training-step benchmark.

One training step = forward, cross-entropy loss, backward, SGD (momentum 0.9, weight decay 5e-4)
update, in training mode, on random data of the given shape. Prints one JSON line per case.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

from torch_infer import CifarResNet


def build(case):
    if case['model'] == 'resnet20':
        return CifarResNet(20, case['classes'], case['channels'])
    if case['model'] == 'mobilenet_v2':
        model = torchvision.models.mobilenet_v2(width_mult=case.get('width', 1.0), num_classes=case['classes'])
        if case['channels'] != 3:
            first = model.features[0][0]
            model.features[0][0] = torch.nn.Conv2d(case['channels'], first.out_channels, 3, 2, 1, bias=False)
        return model
    raise SystemExit(f"unknown model {case['model']}")


def main():
    threads = int(sys.argv[1])
    cases = json.loads(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for case in cases:
        model = build(case).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(case['batch'], case['channels'], case['size'], case['size'])
        y = torch.randint(0, case['classes'], (case['batch'],))

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()

        for _ in range(case['warmup']):
            step()
        times = []
        deadline = time.perf_counter() + case['seconds']
        while len(times) < case['runs'] or (time.perf_counter() < deadline and len(times) < 200):
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        median = times[len(times) // 2]
        print(json.dumps({**case, 'medianMs': median, 'imagesPerSecond': case['batch'] * 1000 / median, 'torch': torch.__version__}), flush=True)


if __name__ == '__main__':
    main()
