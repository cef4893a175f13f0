"""PyTorch CPU side of razor's inference benchmark.

Times torchvision-structured models (and the CIFAR ResNets written out below) on CPU with a
fixed thread count, batch and input size, and prints one JSON line per case. Run by
tools/bench/run.mjs when /usr/bin/python3 has torch; the razor side runs the same shapes
on onnxruntime.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torchvision


class BasicBlock(nn.Module):
    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        # Option A shortcut (zero padding), razor's default for the CIFAR ResNets.
        self.pad = outputs - inputs if stride != 1 or inputs != outputs else 0
        self.stride = stride

    def shortcut(self, x):
        if self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10, in_channels=3):
        super().__init__()
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        inputs = 16
        for outputs, stride in [(16, 1), (32, 2), (64, 2)]:
            for index in range(blocks):
                layers.append(BasicBlock(inputs, outputs, stride if index == 0 else 1))
                inputs = outputs
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def build(name, channels, classes):
    if name == 'resnet20':
        return CifarResNet(20, classes, channels)
    if name == 'resnet56':
        return CifarResNet(56, classes, channels)
    if name == 'resnet18':
        return torchvision.models.resnet18(num_classes=classes)
    if name == 'resnet50':
        return torchvision.models.resnet50(num_classes=classes)
    if name == 'mobilenet_v2':
        return torchvision.models.mobilenet_v2(num_classes=classes)
    if name == 'shufflenet_v2':
        return torchvision.models.shufflenet_v2_x1_0(num_classes=classes)
    raise SystemExit(f'unknown model {name}')


def main():
    threads = int(sys.argv[1])
    cases = json.loads(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for case in cases:
        model = build(case['model'], case['channels'], case['classes']).eval()
        x = torch.randn(case['batch'], case['channels'], case['size'], case['size'])
        with torch.no_grad():
            for _ in range(case['warmup']):
                model(x)
            times = []
            deadline = time.perf_counter() + case['seconds']
            while len(times) < case['runs'] or (time.perf_counter() < deadline and len(times) < 1000):
                start = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - start) * 1000)
        times.sort()
        median = times[len(times) // 2]
        print(json.dumps({**case, 'medianMs': median, 'imagesPerSecond': case['batch'] * 1000 / median, 'torch': torch.__version__}), flush=True)


if __name__ == '__main__':
    main()
