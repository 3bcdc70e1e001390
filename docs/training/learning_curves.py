"""The learning curves of the shipped rayleigh_cifar weights in one figure: stages 1-3 of the recipe, their
continuations (stage 4: the codec on log_mse; stage 5: stage 3 again on that codec; stages 6-7: the codec 8,000
more steps on log_mse, then 3,000 on log_mse_ssim; stage 8: stage 3 again on that codec; stages 9-10: stages 2
and 3 again with a classifier of width 32, on the stage-7 codec; stage 11: the codec 6,000 more steps with the
channel state to the decoder, beside its control without it; stage 12: stage 10's classifier 1,500 more steps on
the stage-11 codec: the shipped classifier) and the symbol classifier (trained by the reproduction on the shipped
codec).

Run from the repository root: python docs/training/learning_curves.py (reads the histories beside this file,
copies of the runs' history.json, and writes docs/learning_curve_rayleigh_cifar.png)."""
import json
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

runs = {"codec": "codec", "classifier": "classifier", "finetune": "final", "symbols": "symbols",
        "logmse_codec": "logmse-codec", "logmse_finetune": "logmse-final", "cont_codec": "logmse-cont-codec",
        "ssim_codec": "logmse-ssim-codec", "ssim_finetune": "logmse-ssim-final",
        "w32_classifier": "classifier-w32-bf16", "w32_finetune": "w32-final", "csi_codec": "csi-codec",
        "csi_control": "csi-control-codec", "csi_finetune": "csi-final"}
h = {k: json.load(open(f"docs/training/rayleigh_cifar-{v}-history.json"))["history"] for k, v in runs.items()}
fig, ax = plt.subplots(1, 3, figsize=(15, 4))
s = [e["step"] for e in h["codec"]]
ax[0].plot(s, [e["val_psnr"] for e in h["codec"]], "o-", label="validation PSNR at 10 dB (407 exact images)")
ax[0].plot([s[-1] + e["step"] for e in h["logmse_codec"]], [e["val_psnr"] for e in h["logmse_codec"]], "^-",
           label="stage 4: 12,000 more steps on log_mse, lr 1e-4\n(decays at 3.2k-4k and 9.6k-12k)")
end4 = s[-1] + h["logmse_codec"][-1]["step"]
ax[0].plot([end4 + e["step"] for e in h["cont_codec"]], [e["val_psnr"] for e in h["cont_codec"]], "v-",
           label="stage 6: 8,000 more steps on log_mse, lr 5e-5 (decays from 6.4k)")
end6 = end4 + h["cont_codec"][-1]["step"]
ax[0].plot([end6 + e["step"] for e in h["ssim_codec"]], [e["val_psnr"] for e in h["ssim_codec"]], "D-",
           label="stage 7: 3,000 steps on log_mse_ssim, lr 5e-5")
end7 = end6 + h["ssim_codec"][-1]["step"]
ax[0].plot([end7 + e["step"] for e in h["csi_codec"]], [e["val_psnr"] for e in h["csi_codec"]], "P-",
           label="stage 11: 6,000 steps with the channel state\n(log_mse_ssim, lr 5e-5; step 5k selected: shipped)")
ax[0].plot([end7 + e["step"] for e in h["csi_control"]], [e["val_psnr"] for e in h["csi_control"]], "x:",
           label="stage 11's control: the same without it")
ax[0].set(xlabel="optimizer step (batch 128)", ylabel="PSNR [dB]", title="stages 1, 4, 6, 7, 11: codec (stage 1 decays from 8k)")
ax0b = ax[0].twinx()
ax0b.plot(s, [e["train_loss"] for e in h["codec"]], "s--", color="gray", label="training MSE (SNR 0-20 dB, augmented; stage 1)")
ax0b.set_ylabel("training MSE")
lines = ax[0].get_legend_handles_labels(), ax0b.get_legend_handles_labels()  # one legend, drawn above both axes
ax0b.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], loc="center right", fontsize=7)
s = [e["step"] for e in h["classifier"]]
ax[1].plot(s, [e["val_accuracy"] for e in h["classifier"]], "o-", label="stage 2, width 16 (clean validation accuracy)")
ax[1].axvline(10000, color="gray", ls=":", label="10k: end of the width-16 run's first schedule (selected)")
ax[1].plot([e["step"] for e in h["w32_classifier"]], [e["val_accuracy"] for e in h["w32_classifier"]], "s-",
           label="stage 9: stage 2 at width 32 (bf16; the shipped classifier's start)")
ax[1].set(xlabel="optimizer step (batch 128)", ylabel="accuracy", title="stages 2, 9: classifier on clean images")
ax[1].legend(fontsize=8)
for k, lab in (("finetune", "stage 3: image classifier on reconstructions"),
               ("logmse_finetune", "stage 5: stage 3's classifier, 3,000 more steps on the stage-4 codec"),
               ("ssim_finetune", "stage 8: stage 5's classifier, 3,000 more steps on the stage-7 codec"),
               ("w32_finetune", "stage 10: stage 9's width-32 classifier on the stage-7 codec"),
               ("csi_finetune", "stage 12: stage 10's classifier on the stage-11 codec (shipped)"),
               ("symbols", "symbol classifier (shipped codec)")):
    ax[2].plot([e["step"] for e in h[k]], [e["val_accuracy"] for e in h[k]], "o-", label=lab)
ax[2].set(xlabel="optimizer step (batch 128)", ylabel="accuracy at 10 dB", title="stages 3, 5, 8, 10, 12: classifiers at 10 dB")
ax[2].legend(loc="center right", fontsize=7)
fig.tight_layout()
fig.savefig("docs/learning_curve_rayleigh_cifar.png", dpi=100)
print("ok")
