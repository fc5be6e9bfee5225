"""Model interface: five blocks, freezing, the grouped twin, torchvision weights from a file."""

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from transferlab.models import BLOCK_NAMES, CompactResNet, GroupedCompactResNet, architectures, build_model


@pytest.mark.parametrize("arch", architectures())
def test_every_architecture_has_the_interface(arch):
    torch.manual_seed(0)
    m = build_model(arch, 7).eval()
    x = torch.randn(2, 3, 32, 32)
    assert tuple(m.blocks) == BLOCK_NAMES
    assert m(x).shape == (2, 7) and m.features(x).shape == (2, m.feature_dim)
    m.reset_head(3)
    assert m(x).shape == (2, 3)
    m.freeze(2)
    frozen = {n.split(".")[1] for n, p in m.named_parameters() if not p.requires_grad}
    assert frozen == {"block1", "block2"}


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown architecture 'resnet9000'; available: .*cresnet-s"):
        build_model("resnet9000", 2)


def test_grouped_model_equals_its_members():
    torch.manual_seed(0)
    members = [CompactResNet(5, width=8).eval() for _ in range(3)]
    grouped = GroupedCompactResNet.from_models(members).eval()
    x = torch.randn(3, 4, 3, 16, 16)
    expected = torch.stack([m(x[i]) for i, m in enumerate(members)])
    torch.testing.assert_close(grouped(x), expected, atol=1e-5, rtol=1e-4)
    for a, b in zip(members, grouped.split()):
        for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(va, vb, msg=k)
    with pytest.raises(ValueError, match="different sizes"):
        GroupedCompactResNet.from_models([CompactResNet(5, width=8), CompactResNet(5, width=16)])


def test_torchvision_weights_load_from_a_file(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None).eval()
    save_file(tv.state_dict(), str(tmp_path / "r18.safetensors"))
    torch.save(tv.state_dict(), tmp_path / "r18.pth")
    x = torch.randn(2, 3, 64, 64)
    tv.fc = torch.nn.Identity()  # torchvision's own penultimate features
    expected = tv(x)
    for name in ("r18.safetensors", "r18.pth"):
        m = build_model("resnet18", 10, weights=tmp_path / name).eval()
        torch.testing.assert_close(m.features(x), expected)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        build_model("resnet18", 10, weights=tmp_path / "missing.pth")
