"""One pix2pix training iteration, PyTorch beside mvgen, on this machine's CPU (or, with
`--device gpu`, its NVIDIA GPU: then PyTorch and mvgen both use cuDNN's autotuner).

Run by scripts/bench/train_speed.sh (CPU) and scripts/device/train.sh (GPU). For each row (ngf/ndf), in alternating rounds so that
both feel the same machine: PyTorch eager on the reference networks (pix2pix_torch.py) and
mvgen's torch trainer, back to back, and once mvgen's burn trainer (`mvgen bench-train`).
Each measurement is a median over timed iterations after warm-ups, batch 1, the same
thread count everywhere. A shared virtual machine's speed drifts by 10-20 % over minutes,
so the ratio is taken within each round (PyTorch and mvgen measured seconds apart) and
the table gives the median of those ratios. Prints a Markdown table.
"""
import argparse, json, re, statistics, subprocess, sys, time

ROWS = [(16, 16), (16, 64), (64, 64)]


def torch_step_ms(ngf, ndf, threads, steps, warm_up, device):
    """PyTorch's median iteration, measured in a fresh process (like mvgen's)."""
    dev = "cuda" if device == "gpu" else "cpu"
    code = f"""
import statistics, sys, time, torch, torch.nn as nn
sys.path.insert(0, {sys.path[0]!r})
from pix2pix_torch import unet256, patchgan
torch.set_num_threads({threads}); torch.manual_seed(0)
torch.backends.cudnn.benchmark = True
G, D = unet256(ngf={ngf}).to({dev!r}), patchgan(ndf={ndf}).to({dev!r})
oG = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
oD = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()
x = (torch.rand(1, 1, 256, 256) * 2 - 1).to({dev!r})
y = (torch.rand(1, 3, 256, 256) * 2 - 1).to({dev!r})
def step():
    # As pix2pix's own training loop: D first, then G with D's requires_grad off.
    fake = G(x)
    for p in D.parameters(): p.requires_grad_(True)
    oD.zero_grad(set_to_none=True)
    pf = D(torch.cat([x, fake.detach()], 1)); pr = D(torch.cat([x, y], 1))
    lD = 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))
    lD.backward(); oD.step()
    for p in D.parameters(): p.requires_grad_(False)
    oG.zero_grad(set_to_none=True)
    pf = D(torch.cat([x, fake], 1))
    lG = bce(pf, torch.ones_like(pf)) + 100.0 * l1(fake, y)
    lG.backward(); oG.step()
    float(lG)  # waits for the step (and the GPU)
ms = []
for i in range({warm_up} + {steps}):
    t = time.perf_counter(); step(); dt = (time.perf_counter() - t) * 1e3
    if i >= {warm_up}: ms.append(dt)
print(statistics.median(ms))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def mvgen_step_ms(mvgen, backend, ngf, ndf, threads, steps, warm_up, device):
    out = subprocess.run(
        [mvgen, "bench-train", "--backend", backend, "--ngf", str(ngf), "--ndf", str(ndf),
         "--threads", str(threads), "--steps", str(steps), "--warm-up", str(warm_up),
         "--device", device],
        check=True, capture_output=True, text=True).stdout
    return float(re.search(r"ndf \d+: ([0-9.]+) ms/iteration", out).group(1))


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--mvgen", required=True)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--rounds", type=int, default=7)
    a.add_argument("--steps", type=int, default=5)
    a.add_argument("--warm-up", type=int, default=2)
    a.add_argument("--no-burn", action="store_true", help="skip the (slow) burn trainer")
    a.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    args = a.parse_args()
    import torch
    runs = {row: {"pytorch": [], "torch": [], "burn": []} for row in ROWS}
    started = time.time()
    for r in range(args.rounds):
        for ngf, ndf in ROWS:
            got = runs[(ngf, ndf)]
            pair = [
                lambda: got["pytorch"].append(torch_step_ms(ngf, ndf, args.threads, args.steps, args.warm_up, args.device)),
                lambda: got["torch"].append(mvgen_step_ms(args.mvgen, "torch", ngf, ndf, args.threads, args.steps, args.warm_up, args.device)),
            ]
            # Alternate who goes first, so that neither always meets the machine warmer.
            for measure in pair if r % 2 == 0 else pair[::-1]:
                measure()
            if not args.no_burn and r == 0:
                got["burn"].append(mvgen_step_ms(args.mvgen, "burn", ngf, ndf, args.threads, args.steps, args.warm_up, args.device))
            print(f"round {r + 1}/{args.rounds} ngf {ngf} ndf {ndf}: " + json.dumps({k: v[-1] for k, v in got.items() if v}),
                  file=sys.stderr, flush=True)
    where = torch.cuda.get_device_name(0) if args.device == "gpu" else f"the CPU, {args.threads} threads"
    print(f"\nPyTorch {torch.__version__} on {where}, batch 1; medians of "
          f"{args.steps} iterations after {args.warm_up} warm-ups, then the median of {args.rounds} "
          f"alternating rounds ({time.time() - started:.0f} s in all).\n")
    print("| ngf / ndf | PyTorch eager | mvgen torch trainer | torch / PyTorch (median of rounds; range) | mvgen burn trainer (flex) | burn / PyTorch |")
    print("|---|---|---|---|---|---|")
    for (ngf, ndf), got in runs.items():
        p, t = statistics.median(got["pytorch"]), statistics.median(got["torch"])
        ratios = [tt / pp for tt, pp in zip(got["torch"], got["pytorch"])]
        b = statistics.median(got["burn"]) if got["burn"] else float("nan")
        print(f"| {ngf} / {ndf} | {p:.0f} ms | {t:.0f} ms | {statistics.median(ratios):.2f}x "
              f"({min(ratios):.2f}-{max(ratios):.2f}) | {b:.0f} ms | {b / p:.2f}x |")


if __name__ == "__main__":
    main()
