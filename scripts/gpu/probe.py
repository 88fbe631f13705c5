"""Time one training step of run 15 (student forward, backward and AdamW step; the 3-member
teacher on each view and its mirror) and print, last, how many epochs fit in BUDGET seconds."""
import sys
import time

import timm
import torch

BATCHES_PER_EPOCH = 224  # 28,709 faces in batches of 128
OVERHEAD = 2.0  # Lightning, augmentation, EMA and the data loader on top of the bare step (a guess)


def main(budget: float) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    student = timm.create_model("tf_efficientnet_lite0", num_classes=7).to(device)
    teachers = [timm.create_model("tf_efficientnet_lite0", num_classes=7).to(device).eval()
                for _ in range(3)]
    optimiser = torch.optim.AdamW(student.parameters(), 3e-4)
    x = torch.randn(128, 3, 64, 64, device=device)

    def step() -> None:
        with torch.autocast(device, torch.bfloat16):
            with torch.no_grad():
                target = sum(t(v).float().softmax(-1) for t in teachers for v in (x, x.flip(-1)))
            loss = -(target / 6 * student(x).float().log_softmax(-1)).sum(-1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    warm_up, timed = (10, 40) if device == "cuda" else (3, 2)
    for _ in range(warm_up):
        step()
    sync()
    start = time.time()
    for _ in range(timed):
        step()
    sync()
    seconds = (time.time() - start) / timed
    epoch = BATCHES_PER_EPOCH * seconds * OVERHEAD + 3
    print(f"step {seconds * 1000:.1f} ms, epoch estimate {epoch:.1f} s")
    print(max(6, int(budget // epoch)))


if __name__ == "__main__":
    main(float(sys.argv[1]))
