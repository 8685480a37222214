"""Module: registration of parameters, buffers and children; names; modes; dtypes; containers;
state_dict / load_state_dict."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import nn
from tinygrad_ko.nn import Parameter


class Block(nn.Module):
    def __init__(self, n=3):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.bn = nn.BatchNorm1d(n)

    def forward(self, x):
        return self.bn(self.fc(x)).relu()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
        self.scale = Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        h = self.fc1(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h) * self.scale


# -- registration ---------------------------------------------------------------------------------
def test_parameter_is_a_tensor_that_requires_grad():
    p = Parameter([1.0, 2.0])
    assert isinstance(p, tg.Tensor) and p.requires_grad and p.is_leaf and p.dtype == np.float32
    assert Parameter(np.zeros(2)).dtype == np.float64                 # float64 arrays stay
    assert not Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\nTensor([1., 2.]")
    assert not hasattr(p, "__dict__")                                  # __slots__ = ()
    y = p * 2                                                          # ops give plain Tensors
    assert type(y) is tg.Tensor
    with pytest.raises(tg.DTypeError):
        Parameter([1, 2])                                              # int cannot require grad


def test_nested_named_parameters_have_dotted_names_in_order():
    names = [n for n, _ in Net().named_parameters()]
    assert names == [                      # a module's own parameters first, then its children's
        "scale", "fc1.weight", "fc1.bias",
        "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.0.bn.weight", "blocks.0.bn.bias",
        "blocks.1.fc.weight", "blocks.1.fc.bias", "blocks.1.bn.weight", "blocks.1.bn.bias",
        "head.0.weight", "head.0.bias"]
    net = Net()
    assert len(list(net.parameters())) == 13
    assert [n for n, _ in net.named_parameters(prefix="net", recurse=False)] == ["net.scale"]
    assert net.num_parameters() == 4 * 3 + 3 + 2 * (9 + 3 + 3 + 3) + 3 * 2 + 2 + 1


def test_buffers_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_buffers()] == [
        f"blocks.{i}.bn.{b}" for i in (0, 1)
        for b in ("running_mean", "running_var", "num_batches_tracked")]
    assert all(not b.requires_grad for b in net.buffers())
    assert [n for n, _ in net.named_children()] == ["fc1", "blocks", "head"]
    assert list(net.children())[0] is net.fc1
    names = [n for n, _ in net.named_modules()]
    assert names[:4] == ["", "fc1", "blocks", "blocks.0"] and "head.1" in names
    assert len(list(net.modules())) == len(names) == 12


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.modules())) == 3 and len(list(seq.children())) == 2
    # a tied weight in two different modules
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    tied = nn.Sequential(a, b)
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    # state_dict keeps every name, as PyTorch (loading writes the same tensor twice)
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_plain_lists_and_plain_grad_tensors_are_refused_with_a_hint():
    class Bad(nn.Module):
        def __init__(self, what):
            super().__init__()
            if what == "list":
                self.layers = [nn.Linear(2, 2), nn.Linear(2, 2)]
            elif what == "dict":
                self.layers = {"a": nn.Linear(2, 2)}
            else:
                self.w = tg.randn(2, 2, requires_grad=True)

    with pytest.raises(TypeError, match=r"not registered.*nn\.ModuleList"):
        Bad("list")
    with pytest.raises(TypeError, match=r"nn\.ModuleDict"):
        Bad("dict")
    with pytest.raises(TypeError, match=r"nn\.Parameter"):
        Bad("tensor")
    m = nn.Module()
    m.cache = [1, 2, 3]                       # plain data is fine
    m.out = tg.randn(2, requires_grad=True) * 2   # a non-leaf result (cached output) is fine
    m.const = tg.ones(3)
    assert list(m.parameters()) == []


def test_assignment_rules():
    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\)"):
        Early()
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        lin.weight = tg.ones(3, 2)
    lin.bias = None                           # None keeps the slot: like bias=False
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert lin(tg.ones(1, 2)).shape == (1, 3)
    seq = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="child module '0'"):
        setattr(seq, "0", 5)
    bn = nn.BatchNorm1d(2)
    with pytest.raises(TypeError, match="buffer 'running_mean'"):
        bn.running_mean = np.zeros(2)
    # reassigning a name moves it between registries
    m = nn.Module()
    m.x = Parameter([1.0])
    m.x = nn.ReLU()
    assert list(m.parameters()) == [] and list(m.children())[0] is m.x
    del m.x
    assert list(m.children()) == [] and not hasattr(m, "x")


def test_register_parameter_buffer_and_module():
    m = nn.Module()
    m.register_parameter("w", Parameter(np.ones(2)))
    m.register_parameter("b", None)
    m.register_buffer("stat", tg.zeros(2))
    m.register_buffer("tmp", np.ones(3), persistent=False)   # arrays become Tensors
    m.add_module("act", nn.ReLU())
    assert [n for n, _ in m.named_parameters()] == ["w"]
    assert [n for n, _ in m.named_buffers()] == ["stat", "tmp"]
    assert list(m.state_dict()) == ["w", "stat"]                 # non-persistent not saved
    assert isinstance(m.tmp, tg.Tensor) and m.act is list(m.children())[0]
    with pytest.raises(TypeError, match="nn.Parameter or None"):
        m.register_parameter("v", tg.ones(2))
    with pytest.raises(KeyError, match="already a parameter"):
        m.register_buffer("w", tg.ones(2))
    with pytest.raises(TypeError, match="expected nn.Module"):
        m.add_module("x", 3)
    with pytest.raises(NotImplementedError, match="forward"):
        m(1)


def test_train_eval_recurse_and_change_behaviour():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(4)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    x = tg.randn(8, 4)
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())   # eval is deterministic
    net.train()
    assert all(m.training for m in net.modules())
    net[2].train(False)
    assert net.training and not net[2].training and not net[2][0].training


def test_zero_grad_and_requires_grad_():
    net = nn.Sequential(nn.Linear(3, 2))
    net(tg.ones(4, 3)).sum().backward()
    w = net[0].weight
    assert w.grad is not None
    net.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), 0)
    assert w.grad.dtype == np.float32
    net.zero_grad()
    assert w.grad is None
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    assert net.num_parameters(only_trainable=True) == 0 and net.num_parameters() == 8


def test_to_double_float_convert_params_grads_and_float_buffers():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    net(tg.ones(3, 2) * tg.tensor([[1.0], [2.0], [3.0]])).sum().backward()
    w = net[0].weight
    v = w._version[0]
    assert net.double() is net
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert w.grad.dtype == np.float64 and w._version[0] == v + 1
    assert net[1].running_mean.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64            # integer buffers untouched
    assert net(np.ones((3, 2))).dtype == np.float64
    net.float()
    assert all(t.dtype == np.float32 for t in net.parameters())
    with pytest.raises(TypeError, match="floating"):
        net.to(np.int32)


def test_apply_and_deepcopy():
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]
    net.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert all(not m.weight.numpy().any() for m in net if isinstance(m, nn.Linear))
    twin = copy.deepcopy(net)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in net.named_parameters()]
    twin[0].weight.numpy()[...] = 1.0
    assert not net[0].weight.numpy().any()


def test_repr_is_a_tree_like_pytorch():
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8 * 14 * 14, 10, bias=False))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))\n"
        "  (3): Flatten(start_dim=1, end_dim=-1)\n"
        "  (4): Linear(in_features=1568, out_features=10, bias=False)\n"
        ")")
    assert repr(Block()) == (
        "Block(\n"
        "  (fc): Linear(in_features=3, out_features=3, bias=True)\n"
        "  (bn): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        ")")
    nested = repr(nn.ModuleDict({"a": nn.Sequential(nn.Tanh())}))
    assert nested == "ModuleDict(\n  (a): Sequential(\n    (0): Tanh()\n  )\n)"
    assert repr(nn.Module()) == "Module()"


# -- containers -----------------------------------------------------------------------------------
def test_sequential_is_indexable_iterable_and_editable():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    seq.append(c)
    assert len(seq) == 3 and list(seq) == [a, b, c] and seq[-1] is c and seq[0] is a
    assert isinstance(seq[1:], nn.Sequential) and list(seq[1:]) == [b, c]
    assert seq(tg.ones(5, 2)).shape == (5, 1)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1"] and seq[1] is c   # renumbered
    seq.insert(1, b)
    assert list(seq) == [a, b, c] and [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    with pytest.raises(tg.IndexOutOfRangeError, match="index 3 is out of range for 3"):
        seq[3]
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    assert named.fc is named[0] and [n for n, _ in named[1:].named_children()] == ["act"]


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    layers += [nn.Linear(2, 1)]
    layers.extend([nn.ReLU()])
    assert len(layers) == 4 and isinstance(layers[1:3], nn.ModuleList)
    assert [n for n, _ in layers.named_parameters()][-2:] == ["2.weight", "2.bias"]
    with pytest.raises(NotImplementedError, match="loop over it"):
        layers(tg.ones(2))
    d = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    d["dec"] = nn.Linear(2, 2)
    assert list(d) == ["enc", "dec"] and "dec" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()][:2] == ["enc.weight", "enc.bias"]
    assert [k for k, _ in d.items()] == d.keys() and len(d.values()) == 2
    assert isinstance(d.pop("enc"), nn.Linear) and d.keys() == ["dec"]
    with pytest.raises(KeyError, match="keys: \\['dec'\\]"):
        d["nope"]


def test_parameter_list_and_dict():
    pl = nn.ParameterList([np.ones(2), Parameter(np.zeros(3))])
    pl.append(tg.ones(1))
    assert len(pl) == 3 and all(isinstance(p, Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pl[0] = np.full(2, 5.0)
    assert pl[0].numpy()[0] == 5.0
    pd = nn.ParameterDict({"a": np.ones(2)})
    pd["b"] = np.zeros(1)
    assert pd.keys() == ["a", "b"] and "a" in pd and pd["b"].shape == (1,) and len(pd) == 2

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = nn.ParameterList([np.ones(2)])

    assert [n for n, _ in Holder().named_parameters()] == ["ps.0"]
    assert "(0): Parameter of shape (2,)" in repr(Holder())


# -- state_dict -----------------------------------------------------------------------------------
def test_state_dict_is_a_copy_with_params_and_buffers():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd)[:3] == ["scale", "fc1.weight", "fc1.bias"]
    assert "blocks.0.bn.running_mean" in sd and "blocks.1.bn.num_batches_tracked" in sd
    sd["fc1.weight"][...] = 7.0
    assert not (net.fc1.weight.numpy() == 7.0).any()


def test_load_state_dict_copies_in_place_and_keeps_dtype():
    src, dst = Net(), Net()
    w = dst.fc1.weight
    arr, version = w.numpy(), w._version[0]
    sd = {k: a.astype(np.float64) if a.dtype == np.float32 else a
          for k, a in src.state_dict().items()}
    assert dst.load_state_dict(sd) == ([], [])
    assert dst.fc1.weight is w and w.numpy() is arr and w.dtype == np.float32   # same array
    assert w._version[0] == version + 1
    for k, a in src.state_dict().items():
        np.testing.assert_array_equal(a, dst.state_dict()[k], err_msg=k)


def test_load_state_dict_names_every_problem_and_changes_nothing():
    net = Net()
    before = net.state_dict()
    sd = net.state_dict()
    del sd["fc1.bias"], sd["scale"]
    sd["extra.weight"] = np.ones(2)
    sd["head.0.weight"] = np.ones((5, 5))
    sd["fc1.weight"] = np.zeros((3, 4)) + 1       # a good entry: must not be written either
    with pytest.raises(tg.CheckpointError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    for part in ("missing key 'fc1.bias'", "missing key 'scale'", "unexpected key 'extra.weight'",
                 "'head.0.weight' has shape (5, 5) in the checkpoint, the model has (2, 3)",
                 "4 problem(s)", "another model"):
        assert part in msg
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(tg.CheckpointError, match="shape"):
        net.load_state_dict(sd, strict=False)     # shapes are checked even when not strict
    del sd["head.0.weight"]
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["scale", "fc1.bias", "head.0.weight"]
    assert res.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(net.fc1.weight.numpy(), 1.0)


def test_load_state_dict_rejects_bad_values():
    bn = nn.BatchNorm1d(2)
    sd = bn.state_dict()
    sd["num_batches_tracked"] = np.array(1.5)
    with pytest.raises(tg.CheckpointError, match="'num_batches_tracked' is float64.*int64"):
        bn.load_state_dict(sd)
    sd = bn.state_dict()
    sd["weight"] = np.array(["a", "b"])
    with pytest.raises(tg.CheckpointError, match="non-numeric"):
        bn.load_state_dict(sd)
    with pytest.raises(tg.CheckpointError, match="mapping"):
        bn.load_state_dict([1, 2])
    sd = bn.state_dict()
    sd["weight"] = tg.tensor([3.0, 4.0])                        # Tensors are accepted too
    bn.load_state_dict(sd)
    np.testing.assert_array_equal(bn.weight.numpy(), [3.0, 4.0])
