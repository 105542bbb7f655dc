"""PyTorch baseline for `npm run bench -- engine`: the same Show, Attend and Tell decoder
(docs/engine.md: tanh init MLPs, attention MLP with the image projection once per batch,
beta gate, explicit-gate LSTM, deep output with dropout, softmax cross-entropy over all steps,
doubly stochastic penalty; hard attention samples a location per step and adds the REINFORCE
and entropy terms) trained with Adam, timed per step with torch's threads set as asked.

Usage:
  python3 sat_step.py step MODE STEPS THREADS   MODE soft|hard: one JSON line, per-step ms
  python3 sat_step.py sgemm THREADS M,N,K ...     torch.mm GFLOP/s per shape (best of 5)
  python3 sat_step.py info                        torch version and BLAS
Not part of the package: it only exists to measure the baseline on the same machine.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, T, L, D, m, n, A, K = 64, 13, 196, 1024, 512, 1024, 512, 8500
LAMBDA_R, LAMBDA_E, BASELINE = 0.1, 0.002, -60.0


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

    def forward(self, a, inputs, targets, hard):
        abar = a.mean(1)
        h = torch.tanh(self.init_h(abar))
        c = torch.tanh(self.init_c(abar))
        P = self.W_a(a)
        X = self.E(inputs)
        GX = self.W_x(X)
        rows = torch.arange(B)
        hs, zs, alphas, log_alpha_s, entropies = [], [], [], [], []
        for t in range(T):
            e = self.w_att(torch.tanh(P + self.W_h(h).unsqueeze(1))).squeeze(-1)
            alpha = F.softmax(e, dim=1)
            beta = torch.sigmoid(self.w_beta(h))
            if hard:
                s = torch.multinomial(alpha.detach(), 1).squeeze(1)
                z = beta * a[rows, s]
                log_alpha = F.log_softmax(e, dim=1)
                log_alpha_s.append(log_alpha[rows, s])
                entropies.append(-(alpha * log_alpha).sum(1))
            else:
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
        logp = -F.cross_entropy(logits.reshape(-1, K), targets.reshape(-1), reduction="none").reshape(B, T).sum(1)
        nll = -logp.sum() / B
        penalty = ((1.0 - torch.stack(alphas, 1).sum(1)) ** 2).sum(1).mean()
        loss = nll + penalty
        if hard:
            reward = (logp - BASELINE).detach()
            loss = loss - LAMBDA_R * (reward * torch.stack(log_alpha_s, 1).sum(1)).mean() - LAMBDA_E * torch.stack(entropies, 1).sum() / B
        return loss


def step_times(mode, steps, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = Decoder()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    a = torch.rand(B, L, D)
    inputs = torch.randint(4, K, (B, T))
    targets = torch.randint(4, K, (B, T))
    hard = mode == "hard"

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(a, inputs, targets, hard)
        loss.backward()
        opt.step()
        return loss.item()

    step()  # warm-up
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def sgemm(threads, shapes):
    torch.set_num_threads(threads)
    out = []
    for M, N, Kd in shapes:
        x, y = torch.rand(M, Kd), torch.rand(Kd, N)
        c = torch.mm(x, y)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(x, y, out=c)
            best = min(best, time.perf_counter() - t0)
        out.append({"M": M, "N": N, "K": Kd, "gflops": 2.0 * M * N * Kd / best / 1e9})
    return out


def blas():
    """The BLAS line of torch's build description, e.g. the MKL version, and its CPU capability."""
    lines = [x.strip(" -") for x in torch.__config__.show().splitlines()]
    name = next((x for x in lines if "Math Kernel Library" in x or "OpenBLAS" in x), None)
    if name is None:
        info = next((x for x in lines if "BLAS_INFO=" in x), "")
        name = info.split("BLAS_INFO=", 1)[1].split(",", 1)[0] if info else "unknown"
    isa = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("CPU capability usage")), None)
    return name.split(" for ")[0] + (f", {isa} kernels" if isa else "")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else "info"
    if cmd == "step":
        mode, steps, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps({"mode": mode, "threads": threads, "msPerStep": step_times(mode, steps, threads)}))
    elif cmd == "sgemm":
        threads = int(sys.argv[2])
        shapes = [tuple(int(v) for v in s.split(",")) for s in sys.argv[3:]]
        print(json.dumps(sgemm(threads, shapes)))
    else:
        print(json.dumps({"torch": torch.__version__, "blas": blas(), "python": sys.executable}))


if __name__ == "__main__":
    main()
