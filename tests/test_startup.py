"""Start-up: Sionna is imported without torch._dynamo, and the deferred decorators still apply on first use."""

import subprocess
import sys

from sionna_semcomm.sionna_import import _on_first_call


def test_link_modules_import_without_dynamo():
    code = ("import sys, torch; real = torch.compile; import sionna_semcomm.link.ofdm, sionna_semcomm.link.bits; "
            "import sionna.phy.mimo.utils; "
            "print('torch._dynamo' in sys.modules, torch.compile is real)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False"  # dynamo (1.5 s of start-up) not imported
    assert out[1] == "True"  # torch.compile is torch's own again after the import


def test_deferred_decorator_applies_the_real_one_on_first_call():
    applied = []

    def real(fn, **kwargs):
        applied.append(kwargs)
        return lambda *a, **k: ("real", fn(*a, **k))

    @_on_first_call(real)(fullgraph=True)
    def double(x):
        return 2 * x

    assert applied == [] and double.__name__ == "double"
    assert double(3) == ("real", 6) and double(4) == ("real", 8)
    assert applied == [{"fullgraph": True}]  # once, with the decorator's arguments

    bare = _on_first_call(real)(lambda: 1)
    assert bare() == ("real", 1) and len(applied) == 2
