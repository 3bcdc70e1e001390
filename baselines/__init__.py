"""What the paper compares against: conventional JPEG2000 + 5G LDPC + QAM links, reference codecs and
baseline attacks. Built on :mod:`sionna_semcomm`'s link and metrics; the core only reaches this package
through the CLI's registry (:mod:`baselines.systems`)."""
