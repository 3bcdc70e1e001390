"""Why does PGD leave the shipped MNIST system at ~24 % but its fine-tuned copies at 0 %?  Logit margins and the
cross-entropy gradient at the logits, clean at 10 dB, 500 test images.

Run from the repository root: ``python docs/diagnostics/mnist_pgd_margins.py`` (the "finetune" system comes from
the reproduction cache of ``runs/reproduce-mnist``)."""
import glob, torch, torch.nn.functional as F
from sionna_semcomm.scenario import load_scenario
from sionna_semcomm.semantic import load_system
from sionna_semcomm.learned import pretrained_checkpoint
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.data.loading import load_dataset
torch.set_num_threads(2)
sc = load_scenario("rayleigh_mnist")
ds = load_dataset("mnist", "test", "../shared/data")
x = torch.stack([ds[i][0] for i in range(500)]); y = torch.tensor([int(ds[i][1]) for i in range(500)])
ck = {"shipped": pretrained_checkpoint("rayleigh_mnist", "mobilesc"),
      "finetune": (glob.glob("runs/reproduce-mnist/cache/rayleigh_mnist/defenses/finetune-*/best.safetensors")[0], None),
      "semmixed": pretrained_checkpoint("rayleigh_mnist", "mobilesc", "semmixed")}
for name, (path, sha) in ck.items():
    system, _ = load_system(path, sha); system.eval()
    link = OFDMLink(system.num_symbols, sc.link.for_learned_images(), seed=0)
    with torch.no_grad():
        logits = system(x, link, 10.0)["logits"].float()
    top2 = logits.topk(2, -1).values
    true = logits.gather(1, y[:, None])[:, 0]
    other = logits.masked_fill(F.one_hot(y, 10).bool(), -float("inf")).max(-1).values
    margin = true - other
    g = (F.softmax(logits, -1) - F.one_hot(y, 10)).abs().amax(-1)
    q = lambda t: [round(float(v), 3) for v in t.quantile(torch.tensor([0.1, 0.5, 0.9]))]
    print(f"{name:9s} acc {float((logits.argmax(-1) == y).float().mean()):.3f} margin q10/50/90 {q(margin)} "
          f"max logit median {float(top2[:, 0].median()):.1f} |dCE/dlogit|max==0: {float((g == 0).float().mean()):.3f} "
          f"<1e-30: {float((g < 1e-30).float().mean()):.3f} <1e-7: {float((g < 1e-7).float().mean()):.3f}")
