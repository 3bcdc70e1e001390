"""What the paper reports, to print beside our numbers.

The paper's text (``shared/paper``) lost most inline numbers; its two tables survived, the figures' claims
survive as sentences. Tables are copied as printed; claims are quoted as the checks the report runs.
"""

TABLE3 = {  # Table III: parameters and inference time (10,000 images)
    ("mobilesc", "encoder"): (805_464, 5.6),
    ("mobilesc", "decoder"): (804_955, 5.6),
    ("mobilenetv2", "encoder"): (1_476_032, 6.2),
    ("mobilenetv2", "decoder"): (1_475_521, 6.2),
    ("deepjscc", "encoder"): (2_760_128, 6.7),
    ("deepjscc", "decoder"): (2_759_617, 6.7),
}

TABLE4 = {  # Table IV: CIFAR-10, SNR 10 dB: OFDM symbols per image, PSNR [dB], SSIM
    "jpeg2000-ldpc-bpsk": (76, 19.77, 0.77),
    "jpeg2000-ldpc-qpsk": (38, 18.31, 0.71),
    "jpeg2000-ldpc-16qam": (19, 13.75, 0.48),
    "jpeg2000-ldpc-64qam": (9, 11.03, 0.28),
    "mobilesc": (6, 25.13, 0.85),
}

CLAIMS = {
    "fig6": [
        "SemAdv degrades the targeted class's accuracy strongly while the other classes lose only a few points.",
        "Adversarial attacks (PGD, PGM, SemAdv) are more destructive than jamming at the same PSR.",
        "SemAdv degrades PSNR/SSIM only slightly (like jamming), far less than PGD and PGM.",
        "The controllable SemAdv misleads the target class to the chosen class at a high rate over PSR -10..-2 dB.",
    ],
    "fig7_8": [
        "Each AT helps against the attack it was trained with.",
        "Only SemMixed holds up against both SemAdv and PGM (comparable to the best single-attack AT under each).",
        "SemMixed's per-class accuracy is flatter across classes than single-attack AT's.",
        "Clean accuracy of the hardened systems stays within a few points of the undefended one "
        "(MNIST near 100 %; CIFAR-10 a 5 % gap).",
    ],
    "fig9": [
        "Without attack MobileSC beats JPEG2000 + 1/2 LDPC + QPSK at low SNR and is comparable at high SNR.",
        "MobileSC under SemAdv can still beat JPEG2000 + 1/2 LDPC + QPSK under noise alone.",
        "SemMixed makes MobileSC more robust under SemAdv across SNR (the attacked class's accuracy) ...",
        "... although it gives no further image quality (PSNR/SSIM) under attack.",
    ],
}
