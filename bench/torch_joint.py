#!/usr/bin/python3
"""The joint U-Net + ResNet of stemscope (src/model/*.ts) in PyTorch, as the speed baseline of
`npm run bench:engine`. Run with Debian's interpreter (python3-torch, python3-torchvision):

  /usr/bin/python3 bench/torch_joint.py --config '<JointModelConfig JSON>' --mode fp32|bf16 \
      [--batch 16] [--steps 5] [--threads 2]

The architecture is built from the same config object our TypeScript model uses, so both engines
train the same network. With the `seed` config it is exactly /work/shared/bench/seed_torch.py's model
(torchvision's ResNet-50 with a 1-channel stem; checked by the parameter count it prints).
A training step = forward, loss λ·ΣMSE + (1−λ)·ΣCE, backward, Adam(lr 0.0015, wd 1e-4), channels-last.
Prints one JSON line: {"samples_per_s": [...], "median": ..., "params": ...}."""
import argparse, json, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F


def encoder(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))


def decoder(cin, cout, p, last=False):
    layers = [nn.ConvTranspose2d(cin, cout, 2, stride=2), nn.Dropout2d(p), nn.Conv2d(cout, cout, 3, padding=1)]
    return nn.Sequential(*layers) if last else nn.Sequential(*layers, nn.BatchNorm2d(cout), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, cfg, sources):
        super().__init__()
        d, b = cfg["depth"], cfg["baseChannels"]
        ch = [b * 2 ** i for i in range(d)]
        self.enc = nn.ModuleList([encoder(1 if i == 0 else ch[i - 1], ch[i]) for i in range(d)])
        dec = []
        for j in range(d):
            cin = ch[d - 1] if j == 0 else 2 * ch[d - 1 - j]
            last = j == d - 1
            dec.append(decoder(cin, sources if last else ch[d - 2 - j], cfg["dropout"], last))
        self.dec = nn.ModuleList(dec)
        self.mask = cfg["output"] == "mask"

    def forward(self, mix):
        skips, x = [], mix
        for e in self.enc:
            x = e(x)
            skips.append(x)
        d = len(self.enc)
        x = self.dec[0](skips[d - 1])
        for j in range(1, d):
            x = self.dec[j](torch.cat([x, skips[d - 1 - j]], 1))
        return torch.sigmoid(x) * mix if self.mask else x


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
                           if stride != 1 or cin != planes else None)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False); self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False); self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False); self.bn3 = nn.BatchNorm2d(out)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                           if stride != 1 or cin != out else None)

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = F.relu(self.bn2(self.conv2(o)))
        o = self.bn3(self.conv3(o))
        return F.relu(o + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, cfg, classes):
        super().__init__()
        depth, w = cfg["depth"], cfg["width"]
        block = Bottleneck if depth == 50 else Basic
        counts = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[depth]
        self.conv1 = nn.Conv2d(1, w, 7, cfg["stemStride"], 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if cfg["stemPool"] else nn.Identity()
        cin, layers = w, []
        for i, n in enumerate(counts):
            blocks = []
            for b in range(n):
                blocks.append(block(cin, w * 2 ** i, 2 if b == 0 and i > 0 else 1))
                cin = w * 2 ** i * block.expansion
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(cin, classes)
        self.p = cfg["dropout"]

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(F.dropout(x, self.p, self.training) if self.p > 0 else x)


class Joint(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.k = cfg["sources"]
        self.unet = UNet(cfg["unet"], self.k)
        self.classifier = ResNet(cfg["resnet"], cfg["numClasses"])

    def forward(self, x):
        sep = self.unet(x)
        return sep, torch.stack([self.classifier(sep[:, i:i + 1]) for i in range(self.k)], 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--mode", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=128)
    a = ap.parse_args()
    cfg = json.loads(a.config)
    torch.set_num_threads(a.threads)  # Debian's build defaults to 1 thread
    torch.manual_seed(0)
    model = Joint(cfg).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=0.0015, weight_decay=1e-4)
    k, c = cfg["sources"], cfg["numClasses"]
    x = torch.rand(a.batch, 1, a.size, a.size).to(memory_format=torch.channels_last)
    target = torch.rand(a.batch, k, a.size, a.size)
    labels = torch.randint(0, c, (a.batch, k))

    def step():
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.mode == "bf16"):
            sep, logits = model(x)
        l_sep = F.mse_loss(sep.float(), target) * k
        l_cls = F.cross_entropy(logits.float().reshape(-1, c), labels.reshape(-1)) * k
        loss = 0.7 * l_sep + 0.3 * l_cls
        loss.backward()
        opt.step()

    step()  # warm-up
    rates = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        rates.append(a.batch / (time.perf_counter() - t0))
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"samples_per_s": [round(r, 3) for r in rates], "median": round(statistics.median(rates), 3),
                      "params": params}))


if __name__ == "__main__":
    main()
