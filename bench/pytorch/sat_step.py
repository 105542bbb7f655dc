"""PyTorch baseline for `npm run bench -- engine`: the same Show, Attend and Tell decoder
(docs/engine.md: tanh init MLPs, attention MLP with the image projection once per batch,
β gate, explicit-gate LSTM, deep output with dropout, softmax cross-entropy over all steps,
doubly stochastic penalty) trained with Adam, timed per step with torch's threads set to 2.

Usage: python3 bench/pytorch/sat_step.py [steps] [threads]   (prints one JSON line)
Not part of the package: it only exists to measure the baseline on the same machine.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, T, L, D, m, n, A, K = 64, 13, 196, 1024, 512, 1024, 512, 8500


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.E = nn.Embedding(K, m)
        self.init_h = nn.Linear(D, n)
        self.init_c = nn.Linear(D, n)
        self.W_a = nn.Linear(D, A)
        self.W_h = nn.Linear(n, A, bias=False)
        self.w_att = nn.Linear(A, 1)
        self.w_beta = nn.Linear(n, 1)
        self.W_x = nn.Linear(m, 4 * n)
        self.U = nn.Linear(n, 4 * n, bias=False)
        self.W_z = nn.Linear(D, 4 * n, bias=False)
        self.L_h = nn.Linear(n, m, bias=False)
        self.L_z = nn.Linear(D, m, bias=False)
        self.L_o = nn.Linear(m, K)
        for p in self.parameters():
            nn.init.normal_(p, 0.0, 0.01)

    def forward(self, a, inputs, targets):
        abar = a.mean(1)
        h = torch.tanh(self.init_h(abar))
        c = torch.tanh(self.init_c(abar))
        P = self.W_a(a)
        X = self.E(inputs)
        GX = self.W_x(X)
        hs, zs, alphas = [], [], []
        for t in range(T):
            e = self.w_att(torch.tanh(P + self.W_h(h).unsqueeze(1))).squeeze(-1)
            alpha = F.softmax(e, dim=1)
            beta = torch.sigmoid(self.w_beta(h))
            z = beta * torch.bmm(alpha.unsqueeze(1), a).squeeze(1)
            g = GX[:, t] + self.U(h) + self.W_z(z)
            i, f, o, gg = g.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
            zs.append(z)
            alphas.append(alpha)
        H = torch.stack(hs, 1)
        Z = torch.stack(zs, 1)
        u = F.dropout(torch.tanh(X + self.L_h(H) + self.L_z(Z)), 0.5, self.training)
        logits = self.L_o(u)
        nll = F.cross_entropy(logits.reshape(-1, K), targets.reshape(-1), reduction="sum") / B
        penalty = ((1.0 - torch.stack(alphas, 1).sum(1)) ** 2).sum(1).mean()
        return nll + penalty


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = Decoder()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    a = torch.rand(B, L, D)
    inputs = torch.randint(4, K, (B, T))
    targets = torch.randint(4, K, (B, T))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(a, inputs, targets)
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - t0) * 1000 / steps
    print(json.dumps({"name": "pytorch soft", "torch": torch.__version__, "threads": threads, "msPerStep": ms, "captionsPerSec": B * 1000 / ms}))


if __name__ == "__main__":
    main()
