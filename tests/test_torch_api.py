"""The PyTorch surface of issue 16, run under both libraries (tests/torch_compare.py): devices,
conversions, comparisons, top-level functions, ``.data``, in-place ops, save/load, optimizers and
schedulers, losses, layers, data loading. Everyday idioms are in test_torch_idioms.py; the
deliberate differences (docs/en/pytorch.md) at the end of this file."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ko as tg
from torch_compare import canon, run_both

torch = pytest.importorskip("torch", reason="PyTorch is an optional test dependency: "
                                            "pip install -e '.[compare]'")

RNG = np.random.default_rng(16)
A = RNG.standard_normal((4, 5)).astype(np.float32)
B = RNG.standard_normal((4, 5)).astype(np.float32)
IMG = RNG.standard_normal((2, 3, 7, 6)).astype(np.float32)
LABELS = np.array([1, 0, 4, 2])


def both(case, rtol=1e-6, atol=1e-7):
    run_both(torch, case, rtol, atol)


def _fill(torch_, module):
    """Give a module's parameters the same deterministic values under both libraries."""
    with torch_.no_grad():
        for i, p in enumerate(module.parameters()):
            n = int(np.prod(tuple(p.shape)))
            vals = np.sin(np.arange(n) * 0.7 + i).reshape(tuple(p.shape)).astype(np.float32) * 0.3
            p.copy_(torch_.tensor(vals))
    return module


# -- devices -------------------------------------------------------------------------------------
DEVICES = {
    "device('cpu')": lambda t, nn, F: (str(t.device("cpu")), t.device("cpu").type),
    "to('cpu')": lambda t, nn, F: t.tensor(A).to("cpu"),
    "to(device)": lambda t, nn, F: t.tensor(A).to(t.device("cpu")),
    "to(device, dtype)": lambda t, nn, F: t.tensor(A).to(t.device("cpu"), t.float64),
    "to(dtype)": lambda t, nn, F: t.tensor(A).to(t.float64),
    "cpu()": lambda t, nn, F: t.tensor(A).cpu(),
    ".device": lambda t, nn, F: str(t.tensor(A).device),
    "tensor(device=)": lambda t, nn, F: (t.tensor(A, device="cpu"), str(t.zeros(2, device="cpu").device)),
    "Module.to(device)": lambda t, nn, F: _fill(t, nn.Linear(5, 2)).to(t.device("cpu"))(t.tensor(A)),
    "Module.to('cpu')": lambda t, nn, F: _fill(t, nn.Linear(5, 2)).to("cpu")(t.tensor(A)),
    "Module.to returns the module": lambda t, nn, F: type(nn.Linear(5, 2).to("cpu")).__name__,
    "Module.to(float64)": lambda t, nn, F: _fill(t, nn.Linear(5, 2)).to(t.float64).weight.dtype,
    "parameter device": lambda t, nn, F: str(next(nn.Linear(5, 2).parameters()).device),
}


@pytest.mark.parametrize("case", sorted(DEVICES))
def test_devices(case):
    both(DEVICES[case])


def test_no_accelerator():
    assert tg.cuda.is_available() is False
    assert tg.accelerator.is_available() is False
    assert tg.accelerator.current_accelerator() is None


# (making tg.device("cuda:0") is fine, as in PyTorch; using it is what fails)
@pytest.mark.parametrize("call", [lambda: tg.zeros(2).to("cuda"), lambda: tg.zeros(2, device="cuda:0"),
                                  lambda: tg.nn.Linear(2, 2).to("cuda"),
                                  lambda: tg.tensor([1.0], device="mps"),
                                  lambda: tg.zeros(2).to("nonsense")])
def test_a_missing_device_is_a_clear_error(call):
    with pytest.raises(tg.TinygradError) as e:
        call()
    assert any(d in str(e.value) for d in ("cuda", "mps", "nonsense"))


# -- conversions and comparisons -----------------------------------------------------------------
CONVERSIONS = {
    "type(float32)": lambda t, nn, F: t.tensor(LABELS).type(t.float32),
    "dtype aliases": lambda t, nn, F: [t.float, t.double, t.long, t.int, t.float32, t.int64, t.bool],
    "long()": lambda t, nn, F: t.tensor(A).long(),
    "int()": lambda t, nn, F: t.tensor(A).int(),
    "bool()": lambda t, nn, F: t.tensor(A).bool(),
    "float() of ints": lambda t, nn, F: t.tensor(LABELS).float(),
    "double()": lambda t, nn, F: t.tensor(A).double(),
    "from_numpy keeps the dtype": lambda t, nn, F: [t.from_numpy(A), t.from_numpy(LABELS),
                                                   t.from_numpy(A.astype(np.float64))],
    "from_numpy shares memory": lambda t, nn, F: _shares(t),
    "tensor of float64 array": lambda t, nn, F: t.tensor(A.astype(np.float64)),
    "tensor of Python floats": lambda t, nn, F: t.tensor([0.5, 1.5]),
    "tensor of Python ints": lambda t, nn, F: t.tensor([1, 2]),
    "tensor of bools": lambda t, nn, F: t.tensor([True, False]),
    "tensor(dtype=float64)": lambda t, nn, F: t.tensor([0.1, 0.2], dtype=t.float64),
    "eq ne lt le gt ge": lambda t, nn, F: [getattr(t.tensor(A), m)(t.tensor(B))
                                           for m in ("eq", "ne", "lt", "le", "gt", "ge")],
    "comparison with a number": lambda t, nn, F: [t.tensor(A).eq(0.0), t.tensor(A).gt(0)],
    "view_as": lambda t, nn, F: t.tensor(A).view_as(t.tensor(A.reshape(20))),
    "t()": lambda t, nn, F: t.tensor(A).t(),
    "t() of a vector": lambda t, nn, F: t.tensor(A[0]).t(),
    "masked_fill": lambda t, nn, F: t.tensor(A).masked_fill(t.tensor(A) > 0, -1.0),
    "masked_fill -inf": lambda t, nn, F: t.tensor(A).masked_fill(t.tensor(A < 0), float("-inf")),
    "__index__": lambda t, nn, F: ["a", "b", "c", "d", "e"][t.tensor(A[0]).argmax()],
    "shape == Size": lambda t, nn, F: (t.tensor(A).shape == t.Size([4, 5]), t.tensor(A).size() == (4, 5)),
    "Size is a tuple": lambda t, nn, F: (list(t.Size([2, 3])), t.Size([2, 3])[1]),
    "numel": lambda t, nn, F: t.tensor(A).numel(),
    "size(dim)": lambda t, nn, F: (t.tensor(A).size(1), t.tensor(A).size(-1)),
    "dim()": lambda t, nn, F: t.tensor(A).dim(),
    "tolist": lambda t, nn, F: t.tensor(LABELS).tolist(),
    "item of int": lambda t, nn, F: t.tensor(LABELS)[2].item(),
    "int() of 0-d": lambda t, nn, F: int(t.tensor(LABELS)[2]),
    "float() of 0-d": lambda t, nn, F: float(t.tensor(A)[0, 0]),
}


def _shares(t):
    arr = A.copy()
    x = t.from_numpy(arr)
    arr[0, 0] = 100.0
    return x[0, 0].item()


@pytest.mark.parametrize("case", sorted(CONVERSIONS))
def test_conversions_and_comparisons(case):
    both(CONVERSIONS[case])


# -- top-level functions -------------------------------------------------------------------------
TOP = {
    "sum(dim=1)": lambda t, nn, F: t.sum(t.tensor(A), dim=1),
    "sum(x, 1, keepdim=True)": lambda t, nn, F: t.sum(t.tensor(A), 1, keepdim=True),
    "sum(x)": lambda t, nn, F: t.sum(t.tensor(A)),
    "mean(dim=0)": lambda t, nn, F: t.mean(t.tensor(A), dim=0),
    "max(x)": lambda t, nn, F: t.max(t.tensor(A)),
    "max(x, 1)": lambda t, nn, F: t.max(t.tensor(A), 1),
    "max(x, dim=0, keepdim=True)": lambda t, nn, F: t.max(t.tensor(A), dim=0, keepdim=True),
    "max(x, y)": lambda t, nn, F: t.max(t.tensor(A), t.tensor(B)),
    "min(x, 1)": lambda t, nn, F: t.min(t.tensor(A), 1),
    "argmax(x, dim=1)": lambda t, nn, F: t.argmax(t.tensor(A), dim=1),
    "argmax(x)": lambda t, nn, F: t.argmax(t.tensor(A)),
    "argmin(x, 0)": lambda t, nn, F: t.argmin(t.tensor(A), 0),
    "clamp": lambda t, nn, F: t.clamp(t.tensor(A), min=-0.5, max=0.5),
    "clamp(min=)": lambda t, nn, F: t.clamp(t.tensor(A), min=0),
    "flatten": lambda t, nn, F: t.flatten(t.tensor(IMG), 1),
    "exp log sqrt": lambda t, nn, F: [t.exp(t.tensor(A)), t.log(t.tensor(A).abs() + 1),
                                      t.sqrt(t.tensor(A).abs())],
    "sin cos tanh sigmoid": lambda t, nn, F: [f(t.tensor(A)) for f in (t.sin, t.cos, t.tanh,
                                                                       t.sigmoid)],
    "abs relu": lambda t, nn, F: [t.abs(t.tensor(A)), t.relu(t.tensor(A))],
    "softmax(x, dim=1)": lambda t, nn, F: t.softmax(t.tensor(A), dim=1),
    "log_softmax(x, 1)": lambda t, nn, F: t.log_softmax(t.tensor(A), 1),
    "logsumexp(x, dim=1)": lambda t, nn, F: t.logsumexp(t.tensor(A), dim=1),
    "cat(dim=1)": lambda t, nn, F: t.cat([t.tensor(A), t.tensor(B)], dim=1),
    "stack(dim=1)": lambda t, nn, F: t.stack([t.tensor(A), t.tensor(B)], dim=1),
    "where": lambda t, nn, F: t.where(t.tensor(A) > 0, t.tensor(A), t.tensor(B)),
    "matmul": lambda t, nn, F: t.matmul(t.tensor(A), t.tensor(B).T),
    "maximum minimum": lambda t, nn, F: [t.maximum(t.tensor(A), t.tensor(B)),
                                         t.minimum(t.tensor(A), t.tensor(B))],
    "zeros ones full": lambda t, nn, F: [t.zeros(2, 3), t.ones((2, 3)), t.full((2,), 1.5)],
    "zeros(dtype=long)": lambda t, nn, F: t.zeros(3, dtype=t.long),
    "zeros_like ones_like": lambda t, nn, F: [t.zeros_like(t.tensor(LABELS)), t.ones_like(t.tensor(A))],
    "arange": lambda t, nn, F: [t.arange(5), t.arange(1, 4), t.arange(0.0, 1.0, 0.25)],
    "linspace eye": lambda t, nn, F: [t.linspace(0, 1, 5), t.eye(3)],
    "randperm": lambda t, nn, F: (sorted(t.randperm(10).tolist()), t.randperm(10).dtype,
                                  t.randperm(10).shape),
    "rand randn shapes": lambda t, nn, F: (t.rand(2, 3).shape, t.randn(4).dtype, t.rand(2).min() >= 0),
    "randint": lambda t, nn, F: (t.randint(0, 5, (3, 4)).shape, t.randint(0, 5, (3,)).dtype),
    "inference_mode": lambda t, nn, F: _inference(t),
    "no_grad": lambda t, nn, F: _no_grad(t),
    "is_grad_enabled": lambda t, nn, F: t.is_grad_enabled(),
}


def _inference(t):
    x = t.tensor(A, requires_grad=True)
    with t.inference_mode():
        y = x * 2
    return y.requires_grad, y


def _no_grad(t):
    x = t.tensor(A, requires_grad=True)
    with t.no_grad():
        y = x * 2
    return y.requires_grad, (x * 2).requires_grad


@pytest.mark.parametrize("case", sorted(TOP))
def test_top_level_functions(case):
    both(TOP[case])


# -- .data ---------------------------------------------------------------------------------------
def _sgd_by_hand(t, nn, F):
    model = _fill(t, nn.Linear(5, 3))
    loss = F.cross_entropy(model(t.tensor(A)), t.tensor(LABELS % 3))
    loss.backward()
    for p in model.parameters():
        p.data -= 0.1 * p.grad
    return [p for p in model.parameters()] + [type(model.weight.data).__name__.replace("Parameter", "Tensor")]


def _data_shares(t, nn, F):
    lin = nn.Linear(3, 2)
    lin.bias.data.fill_(0)
    d = lin.weight.data
    d.zero_()
    return lin.weight, lin.bias, d.requires_grad, lin.weight.requires_grad


def _data_normal(t, nn, F):
    lin = nn.Linear(400, 300)
    lin.weight.data.normal_(0, 0.02)
    w = lin.weight.data.numpy()
    return round(float(w.mean()), 2), round(float(w.std()), 2), lin.weight.requires_grad


DATA = {
    "p.data -= lr * p.grad": _sgd_by_hand,
    "data shares memory": _data_shares,
    "weight.data.normal_(0, 0.02)": _data_normal,
    "data is outside autograd": lambda t, nn, F: (nn.Linear(2, 2).weight.data.grad_fn is None,
                                                  nn.Linear(2, 2).weight.data.is_leaf),
    "data.numpy()": lambda t, nn, F: _fill(t, nn.Linear(2, 2)).weight.data.numpy(),
    "detach().numpy()": lambda t, nn, F: (t.tensor(A, requires_grad=True) * 2).detach().numpy(),
}


@pytest.mark.parametrize("case", sorted(DATA))
def test_data(case):
    both(DATA[case])


# -- in-place ops ----------------------------------------------------------------------------------
def _inplace(op):
    def case(t, nn, F):
        x = t.tensor(A.copy())
        out = op(t, x)
        return x, out is x
    return case


INPLACE = {
    "add_(other, alpha=)": lambda t, x: x.add_(t.tensor(B), alpha=0.5),
    "add_(number)": lambda t, x: x.add_(2.0),
    "sub_(other, alpha=)": lambda t, x: x.sub_(t.tensor(B), alpha=2),
    "mul_": lambda t, x: x.mul_(t.tensor(B)),
    "mul_(number)": lambda t, x: x.mul_(0.9),
    "div_": lambda t, x: x.div_(2.0),
    "addcmul_": lambda t, x: x.addcmul_(t.tensor(A), t.tensor(B), value=0.1),
    "addcdiv_": lambda t, x: x.addcdiv_(t.tensor(A), t.tensor(B).abs() + 1, value=-0.5),
    "sqrt_": lambda t, x: x.clamp_(min=0).sqrt_(),
    "clamp_": lambda t, x: x.clamp_(-0.5, 0.5),
    "clamp_(min=)": lambda t, x: x.clamp_(min=0),
    "zero_": lambda t, x: x.zero_(),
    "fill_": lambda t, x: x.fill_(3.0),
    "copy_": lambda t, x: x.copy_(t.tensor(B)),
    "+= and *=": lambda t, x: _iops(t, x),
}


def _iops(t, x):
    x += 1
    x *= t.tensor(B)
    x -= 0.5
    x /= 2
    return x


@pytest.mark.parametrize("case", sorted(INPLACE))
def test_inplace(case):
    both(_inplace(INPLACE[case]))


# random fills: the two libraries draw different numbers, so only what follows from the call is compared
RANDOM_INPLACE = {
    "uniform_ range": lambda t, x: bool(((x.uniform_(-2, -1) >= -2) & (x < -1)).all()),
    "normal_ shape and dtype": lambda t, x: (tuple(x.normal_(0, 1).shape), str(x.dtype)[-7:]),
    "normal_ returns self": lambda t, x: x.normal_(0, 1) is x,
}


@pytest.mark.parametrize("case", sorted(RANDOM_INPLACE))
def test_random_inplace(case):
    both(lambda t, nn, F: RANDOM_INPLACE[case](t, t.tensor(A.copy())))


def test_inplace_under_no_grad_on_a_parameter():
    def case(t, nn, F):
        lin = _fill(t, nn.Linear(5, 2))
        F.mse_loss(lin(t.tensor(A)), t.zeros(4, 2)).backward()
        with t.no_grad():
            for p in lin.parameters():
                p.add_(p.grad, alpha=-0.1)
        return list(lin.parameters())
    both(case)


def test_optimizer_state_of_a_fresh_parameter_is_an_empty_dict():
    def case(t, nn, F):
        lin = nn.Linear(2, 2)
        opt = t.optim.SGD(lin.parameters(), lr=0.1)
        return opt.state[lin.weight], len(opt.state)
    both(case)


def test_an_optimizer_written_the_pytorch_way():
    """A hand-written Adam on top of the in-place ops and Optimizer.state."""
    def case(t, nn, F):
        class MyAdam(t.optim.Optimizer):
            def __init__(self, params, lr=0.01, betas=(0.9, 0.999), eps=1e-8):
                super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

            @t.no_grad()
            def step(self):
                for group in self.param_groups:
                    b1, b2 = group["betas"]
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        state = self.state[p]
                        if len(state) == 0:
                            state["step"] = 0
                            state["m"] = t.zeros_like(p)
                            state["v"] = t.zeros_like(p)
                        state["step"] += 1
                        state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                        state["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                        denom = (state["v"] / (1 - b2 ** state["step"])).sqrt().add_(group["eps"])
                        p.addcdiv_(state["m"], denom, value=-group["lr"] / (1 - b1 ** state["step"]))
        lin = _fill(t, nn.Linear(5, 3))
        opt = MyAdam(lin.parameters())
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(lin(t.tensor(A)), t.tensor(LABELS % 3)).backward()
            opt.step()
        return list(lin.parameters())
    both(case, rtol=1e-5)


# -- save / load -------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    def case(t, nn, F):
        model = _fill(t, nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2)))
        path = tmp_path / f"model-{t.__name__}.pt"
        t.save(model.state_dict(), path)
        state = t.load(path, weights_only=True)
        fresh = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
        fresh.load_state_dict(state)
        x = t.tensor(A)
        tpath = tmp_path / f"tensor-{t.__name__}.pt"
        t.save(t.tensor(LABELS), tpath)
        return list(state), fresh(x), t.load(tpath, weights_only=True), str(path).endswith(".pt")
    both(case)


def test_load_refuses_pickles(tmp_path):
    import pickle
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(tg.TinygradError):
        tg.load(path, weights_only=True)
    with pytest.raises(tg.TinygradError):
        tg.load(path)


# -- optimizers and schedulers -------------------------------------------------------------------
W0 = RNG.standard_normal((3, 5))
X0 = RNG.standard_normal((8, 5))
Y0 = RNG.standard_normal((8, 3))


def _train(t, make_opt, steps=6, sched=None):
    w = t.tensor(W0.copy(), requires_grad=True)
    b = t.tensor(np.zeros(3), requires_grad=True)
    opt = make_opt(t, [w, b])
    s = sched(t, opt) if sched else None
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((t.tensor(X0) @ w.T + b - t.tensor(Y0)) ** 2).mean()
        loss.backward()
        opt.step()
        history.append(w.detach().numpy().copy())
        if s is not None:
            s.step()
    return history, b


OPTIMIZERS = {
    "SGD": lambda t, p: t.optim.SGD(p, lr=0.1),
    "SGD momentum": lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9),
    "SGD nesterov weight_decay": lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                                          weight_decay=0.01),
    "Adam": lambda t, p: t.optim.Adam(p, lr=0.05),
    "Adam weight_decay": lambda t, p: t.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), weight_decay=0.1),
    "AdamW": lambda t, p: t.optim.AdamW(p, lr=0.05),
    "RMSprop": lambda t, p: t.optim.RMSprop(p, lr=0.01),
    "RMSprop momentum": lambda t, p: t.optim.RMSprop(p, lr=0.01, momentum=0.5),
    "Adagrad": lambda t, p: t.optim.Adagrad(p, lr=0.1),
    "Adadelta": lambda t, p: t.optim.Adadelta(p),
    "Adadelta lr=1.0": lambda t, p: t.optim.Adadelta(p, lr=1.0, rho=0.8, weight_decay=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_take_the_same_steps(name):
    both(lambda t, nn, F: _train(t, OPTIMIZERS[name]), rtol=1e-9, atol=1e-12)


def _lrs(t, sched, epochs=12, metric=None):
    p = t.tensor(np.zeros(2), requires_grad=True)
    opt = t.optim.SGD([p], lr=0.1, momentum=0.9)
    s = sched(t, opt)
    lrs = []
    for epoch in range(epochs):
        opt.step()
        if metric is None:
            s.step()
        else:
            s.step(metric(epoch))
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


SCHEDULERS = {
    "StepLR": lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.7),
    "MultiStepLR": lambda t, o: t.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.5),
    "ExponentialLR": lambda t, o: t.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    "LambdaLR": lambda t, o: t.optim.lr_scheduler.LambdaLR(o, lambda epoch: 0.95 ** epoch),
    "OneCycleLR": lambda t, o: t.optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=13),
    "OneCycleLR linear": lambda t, o: t.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.5, epochs=3, steps_per_epoch=5, anneal_strategy="linear", pct_start=0.4),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_schedulers_give_the_same_learning_rates(name):
    both(lambda t, nn, F: _lrs(t, SCHEDULERS[name]), rtol=1e-9)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_lr_on_plateau(mode):
    losses = [1.0, 0.9, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    sched = lambda t, o: t.optim.lr_scheduler.ReduceLROnPlateau(o, mode=mode, factor=0.5,  # noqa: E731
                                                                 patience=1)
    both(lambda t, nn, F: _lrs(t, sched, len(losses), metric=lambda e: losses[e]), rtol=1e-9)


def test_scheduler_get_last_lr():
    def case(t, nn, F):
        opt = t.optim.SGD([t.tensor(np.zeros(2), requires_grad=True)], lr=1.0)
        s = t.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        out = []
        for _ in range(3):
            opt.step()
            s.step()
            out.append(s.get_last_lr())
        return out
    both(case, rtol=1e-12)


def test_clip_grad_norm_and_value():
    def case(t, nn, F):
        model = _fill(t, nn.Linear(5, 3))
        F.cross_entropy(model(t.tensor(A) * 10), t.tensor(LABELS % 3)).backward()
        total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        clipped = [p.grad.clone() for p in model.parameters()]
        total_inf = nn.utils.clip_grad_norm_(model.parameters(), 0.1, norm_type=float("inf"))
        nn.utils.clip_grad_value_(model.parameters(), clip_value=0.01)
        return total, clipped, total_inf, [p.grad for p in model.parameters()]
    both(case, rtol=1e-5)


# -- losses, layers, functions -------------------------------------------------------------------
LOGITS = RNG.standard_normal((6, 4)).astype(np.float32)
TARGET = np.array([0, 3, 1, 1, 2, 3])
TARGET_IGNORED = np.array([0, -100, 1, 1, -100, 3])
WEIGHT = np.array([0.5, 2.0, 1.0, 0.25], dtype=np.float32)


def _loss_case(build):
    def case(t, nn, F):
        x = t.tensor(LOGITS, requires_grad=True)
        loss = build(t, nn, F, x)
        loss.sum().backward()
        return loss, x.grad
    return case


LOSSES = {
    "CrossEntropyLoss(weight=)": lambda t, nn, F, x: nn.CrossEntropyLoss(weight=t.tensor(WEIGHT))(
        x, t.tensor(TARGET)),
    "CrossEntropyLoss(ignore_index=-100)": lambda t, nn, F, x: nn.CrossEntropyLoss()(
        x, t.tensor(TARGET_IGNORED)),
    "CrossEntropyLoss(ignore_index=1)": lambda t, nn, F, x: nn.CrossEntropyLoss(ignore_index=1)(
        x, t.tensor(TARGET)),
    "CrossEntropyLoss(weight, ignore_index, sum)": lambda t, nn, F, x: nn.CrossEntropyLoss(
        weight=t.tensor(WEIGHT), ignore_index=3, reduction="sum")(x, t.tensor(TARGET)),
    "cross_entropy(weight, ignore_index, none)": lambda t, nn, F, x: F.cross_entropy(
        x, t.tensor(TARGET_IGNORED), weight=t.tensor(WEIGHT), reduction="none"),
    "cross_entropy(weight, label_smoothing)": lambda t, nn, F, x: F.cross_entropy(
        x, t.tensor(TARGET), weight=t.tensor(WEIGHT), label_smoothing=0.1),
    "nll_loss(weight=)": lambda t, nn, F, x: F.nll_loss(F.log_softmax(x, dim=1), t.tensor(TARGET),
                                                        weight=t.tensor(WEIGHT)),
    "nll_loss(ignore_index=)": lambda t, nn, F, x: F.nll_loss(F.log_softmax(x, dim=1),
                                                              t.tensor(TARGET), ignore_index=0),
    "NLLLoss(weight, ignore_index)": lambda t, nn, F, x: nn.NLLLoss(weight=t.tensor(WEIGHT),
                                                                    ignore_index=-100)(
        F.log_softmax(x, dim=1), t.tensor(TARGET_IGNORED)),
    "MSELoss": lambda t, nn, F, x: nn.MSELoss()(x, t.tensor(LOGITS[::-1].copy())),
    "BCEWithLogitsLoss": lambda t, nn, F, x: nn.BCEWithLogitsLoss()(
        x, t.tensor((LOGITS > 0).astype(np.float32))),
}


@pytest.mark.parametrize("case", sorted(LOSSES))
def test_losses(case):
    both(_loss_case(LOSSES[case]), rtol=1e-5, atol=1e-6)


def test_one_hot():
    both(lambda t, nn, F: [F.one_hot(t.tensor(TARGET)), F.one_hot(t.tensor(TARGET), num_classes=6),
                           F.one_hot(t.tensor(np.array([[0, 1], [2, 0]])), 3)])
    both(lambda t, nn, F: F.one_hot(t.tensor(np.array([0, 4])), num_classes=3))   # both refuse


def _act_case(make):
    def case(t, nn, F):
        x = t.tensor(np.linspace(-25, 25, 41).astype(np.float32), requires_grad=True)
        y = make(t, nn, F)(x)
        (y * t.tensor(np.linspace(0.5, 1.5, 41).astype(np.float32))).sum().backward()
        return y, x.grad
    return case


ACTIVATIONS = {
    "GELU": lambda t, nn, F: nn.GELU(),
    "GELU tanh": lambda t, nn, F: nn.GELU(approximate="tanh"),
    "SiLU": lambda t, nn, F: nn.SiLU(),
    "Softplus": lambda t, nn, F: nn.Softplus(),
    "Softplus(beta, threshold)": lambda t, nn, F: nn.Softplus(beta=2.0, threshold=5.0),
    "ELU": lambda t, nn, F: nn.ELU(),
    "ELU(alpha)": lambda t, nn, F: nn.ELU(alpha=0.5),
    "F.gelu": lambda t, nn, F: F.gelu,
    "F.silu": lambda t, nn, F: F.silu,
    "F.softplus": lambda t, nn, F: F.softplus,
    "F.elu": lambda t, nn, F: F.elu,
    "LeakyReLU": lambda t, nn, F: nn.LeakyReLU(0.2),
    "Tanh Sigmoid ReLU": lambda t, nn, F: nn.Sequential(nn.Tanh(), nn.Sigmoid(), nn.ReLU()),
}


@pytest.mark.parametrize("case", sorted(ACTIVATIONS))
def test_activations(case):
    both(_act_case(ACTIVATIONS[case]), rtol=1e-5, atol=1e-6)


def _grad_case(fn, data=IMG):
    def case(t, nn, F):
        x = t.tensor(data, requires_grad=True)
        y = fn(t, nn, F, x)
        (y * y).sum().backward()
        return y, x.grad
    return case


LAYERS = {
    "adaptive_avg_pool2d (1, 1)": lambda t, nn, F, x: F.adaptive_avg_pool2d(x, (1, 1)),
    "adaptive_avg_pool2d 1": lambda t, nn, F, x: F.adaptive_avg_pool2d(x, 1),
    "adaptive_avg_pool2d (2, 3)": lambda t, nn, F, x: F.adaptive_avg_pool2d(x, (2, 3)),
    "adaptive_avg_pool2d (3, 4) uneven": lambda t, nn, F, x: F.adaptive_avg_pool2d(x, (3, 4)),
    "AdaptiveAvgPool2d": lambda t, nn, F, x: nn.AdaptiveAvgPool2d((2, 2))(x),
    "Conv2d padding='same' 3x3": lambda t, nn, F, x: _fill(t, nn.Conv2d(3, 4, 3, padding="same"))(x),
    "Conv2d padding='same' 5x5": lambda t, nn, F, x: _fill(t, nn.Conv2d(3, 2, 5, padding="same"))(x),
    "Conv2d padding='valid'": lambda t, nn, F, x: _fill(t, nn.Conv2d(3, 2, 3, padding="valid"))(x),
    "Conv2d stride 2 padding 1": lambda t, nn, F, x: _fill(t, nn.Conv2d(3, 2, 3, 2, 1))(x),
    "Conv2d unbatched": lambda t, nn, F, x: _fill(t, nn.Conv2d(3, 2, 3))(x[0]),
    "MaxPool2d unbatched": lambda t, nn, F, x: nn.MaxPool2d(2)(x[0]),
    "AvgPool2d unbatched": lambda t, nn, F, x: nn.AvgPool2d(2, 1)(x[0]),
    "F.max_pool2d unbatched": lambda t, nn, F, x: F.max_pool2d(x[1], 3, 2, 1),
    "F.conv2d unbatched": lambda t, nn, F, x: F.conv2d(x[0], t.tensor(IMG[:2, :, :3, :3].copy())),
    "F.avg_pool2d": lambda t, nn, F, x: F.avg_pool2d(x, 2),
    "BatchNorm2d train": lambda t, nn, F, x: nn.BatchNorm2d(3)(x),
    "Dropout eval": lambda t, nn, F, x: nn.Dropout(0.5).eval()(x),
    "Flatten Linear": lambda t, nn, F, x: _fill(t, nn.Sequential(nn.Flatten(), nn.Linear(126, 4)))(x),
}


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_layers(case):
    both(_grad_case(LAYERS[case]), rtol=1e-4, atol=1e-5)


def test_layer_reprs_and_parameter_names():
    def case(t, nn, F):
        m = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.ReLU(), nn.Flatten(),
                          nn.Linear(16, 2), nn.GELU(), nn.Softplus(), nn.ELU(), nn.SiLU())
        return [n for n, _ in m.named_parameters()], [tuple(p.shape) for p in m.parameters()]
    both(case)


# -- data ----------------------------------------------------------------------------------------
def _loader(t, **kw):
    ds = t.utils.data.TensorDataset(t.tensor(A), t.tensor(LABELS))
    return [tuple(b.shape for b in batch) for batch in t.utils.data.DataLoader(ds, **kw)]


DATALOADER = {
    "batch_size=3": lambda t, nn, F: _loader(t, batch_size=3),
    "drop_last=True": lambda t, nn, F: _loader(t, batch_size=3, drop_last=True),
    "num_workers=0 pin_memory=False": lambda t, nn, F: _loader(t, batch_size=2, num_workers=0,
                                                               pin_memory=False),
    "shuffle=True sizes": lambda t, nn, F: _loader(t, batch_size=3, shuffle=True),
    "len(loader)": lambda t, nn, F: (len(t.utils.data.DataLoader(
        t.utils.data.TensorDataset(t.tensor(A)), batch_size=3)), len(t.utils.data.DataLoader(
            t.utils.data.TensorDataset(t.tensor(A)), batch_size=3, drop_last=True))),
    "len(dataset)": lambda t, nn, F: len(t.utils.data.TensorDataset(t.tensor(A), t.tensor(LABELS))),
    "dataset[i]": lambda t, nn, F: t.utils.data.TensorDataset(t.tensor(A), t.tensor(LABELS))[2],
    "random_split lengths": lambda t, nn, F: [len(s) for s in t.utils.data.random_split(
        range(10), [7, 3])],
    "random_split fractions": lambda t, nn, F: [len(s) for s in t.utils.data.random_split(
        range(10), [0.7, 0.3])],
    "random_split covers all": lambda t, nn, F: sorted(
        int(i) for s in t.utils.data.random_split(range(10), [6, 4]) for i in s),
    "Subset": lambda t, nn, F: (len(t.utils.data.Subset(list(range(10)), [1, 5, 7])),
                                t.utils.data.Subset(list(range(10)), [1, 5, 7])[1]),
    "Dataset subclass in a DataLoader": lambda t, nn, F: _custom_dataset(t),
}


def _custom_dataset(t):
    class Squares(t.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return t.tensor([float(i)]), i * i
    return list(t.utils.data.DataLoader(Squares(), batch_size=2))


@pytest.mark.parametrize("case", sorted(DATALOADER))
def test_data_loading(case):
    both(DATALOADER[case])


def test_utils_data_import_path():
    from tinygrad_ko.utils.data import (DataLoader, Dataset, Subset, TensorDataset,  # noqa: F401
                                        random_split)
    import tinygrad_ko.utils.data as tud
    assert tud.DataLoader is DataLoader


def test_num_workers_above_zero_works_or_says_so():
    ds = tg.utils.data.TensorDataset(tg.tensor(A), tg.tensor(LABELS))
    try:
        batches = list(tg.utils.data.DataLoader(ds, batch_size=2, num_workers=2))
    except tg.TinygradError as e:
        assert "num_workers" in str(e)
    else:
        assert [b[0].shape for b in batches] == [(2, 5), (2, 5)]


# -- deliberate differences (docs/en/pytorch.md lists each, with this test's name) ----------------
def test_difference_size_is_a_count_and_callable():
    x = tg.tensor(A)
    assert x.size == 20 and x.size() == (4, 5) and x.size(1) == 5
    assert torch.tensor(A).size() == (4, 5)


def test_difference_numpy_axis_keywords():
    x = tg.tensor(A)
    np.testing.assert_allclose(x.sum(axis=1, keepdims=True).numpy(),
                               torch.tensor(A).sum(dim=1, keepdim=True).numpy(), rtol=1e-6)
    assert canon(x.max(axis=1)) == canon(torch.tensor(A).amax(dim=1))       # values only
    values, indices = x.max(dim=1)                                          # PyTorch's pair
    assert canon(indices) == canon(torch.tensor(A).max(dim=1).indices)


def test_difference_transpose_without_arguments_reverses_axes():
    x = tg.tensor(IMG)
    assert x.transpose().shape == IMG.T.shape
    assert canon(x.transpose(1, 2)) == canon(torch.tensor(IMG).transpose(1, 2))


def test_var_std_default_is_unbiased_as_pytorch():
    for fn in ("var", "std"):
        for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
            got = getattr(tg.tensor(A), fn)(**kw)
            want = getattr(torch.tensor(A), fn)(**kw)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    np.testing.assert_allclose(tg.tensor(A).var(ddof=0).numpy(), A.var(), rtol=1e-5)


def test_difference_pow_second_order_at_exponent_zero():
    """d/db of d(a**b)/da = a**(b-1) (1 + b log a): 1/a at b = 0. PyTorch masks the whole first
    derivative where b = 0 and answers 0 (nan at 0**0); tinygrad_ko masks only 0**0 (0 there) and
    gives the true value elsewhere, which the numerical oracle checks. First derivatives agree."""
    def second(lib):
        a = lib.tensor(np.array([2.0, 0.5, 0.0]), requires_grad=True)
        b = lib.tensor(np.array([0.0, 0.0, 0.0]), requires_grad=True)
        ga, = lib.autograd.grad((a ** b).sum(), a, create_graph=True)
        gb, = lib.autograd.grad(ga.sum(), b)
        return ga.detach().numpy(), gb.numpy()
    (ga, gb), (tga, tgb) = second(tg), second(torch)
    np.testing.assert_array_equal(ga, tga)                  # d/da a**0 = 0, 0 at 0**0 too
    np.testing.assert_allclose(gb, [0.5, 2.0, 0.0])           # 1/a; 0 at 0**0, never nan
    np.testing.assert_array_equal(tgb, [0.0, 0.0, np.nan])


@pytest.mark.parametrize("call", [lambda lib: lib.tensor(A[:0]).mean(dim=0),
                                  lambda lib: lib.tensor(A[:, :1]).var(dim=1),
                                  lambda lib: lib.tensor(A[:, :1]).std(dim=1),
                                  lambda lib: lib.nn.functional.cross_entropy(
                                      lib.tensor(A[:0]), lib.tensor(LABELS[:0]))])
def test_difference_errors_where_pytorch_gives_nan(call):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.isnan(call(torch)).all()
    with pytest.raises(tg.TinygradError):
        call(tg)


def test_difference_checkpoints_are_npz(tmp_path):
    path = tmp_path / "w.pt"
    tg.save({"w": tg.tensor(A)}, path)
    with np.load(path) as f:                 # a plain .npz archive NumPy reads
        assert len(f.files) >= 1
    assert np.array_equal(tg.load(path)["w"].numpy(), A)


def test_difference_gpu_needs_cupy():
    """'cuda' runs through CuPy (tests/test_gpu.py, on a GPU machine); without CuPy or a GPU it is
    refused with the library's error saying which is missing; other devices are refused."""
    with pytest.raises(tg.DeviceError, match="mps"):
        tg.zeros(2).to("mps")
    if tg.cuda.is_available():
        assert tg.zeros(2).to("cuda").device.type == "cuda"
        return
    with pytest.raises(tg.DeviceError, match="cuda.*(CuPy|GPU)"):
        tg.zeros(2).to("cuda")


def test_default_dtypes_as_pytorch():
    assert canon(tg.tensor(1.5).dtype) == canon(torch.tensor(1.5).dtype)             # float32
    assert canon(tg.tensor([1, 2]).dtype) == canon(torch.tensor([1, 2]).dtype)       # int64
    f64 = A.astype(np.float64)
    assert canon(tg.tensor(f64).dtype) == canon(torch.tensor(f64).dtype)             # float64
    assert canon(tg.from_numpy(f64).dtype) == canon(torch.from_numpy(f64).dtype)


def test_difference_integer_division():
    a, b = np.array([7, -7, 6]), np.array([2, 2, 4])
    for op in (lambda x, y: x / y, lambda x, y: x // y, lambda x, y: x / 2):
        got, want = op(tg.tensor(a), tg.tensor(b)), op(torch.tensor(a), torch.tensor(b))
        assert canon(got) == canon(want)



def test_difference_mse_loss_needs_equal_shapes():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # PyTorch broadcasts, with a UserWarning
        assert torch.nn.functional.mse_loss(torch.tensor(A), torch.tensor(A[:, :1])).ndim == 0
    with pytest.raises(tg.ShapeError):
        tg.nn.functional.mse_loss(tg.tensor(A), tg.tensor(A[:, :1]))


def test_difference_dtypes_are_numpy_dtypes():
    x = tg.tensor(A)
    assert x.dtype == np.float32 and tg.float32 == np.dtype("float32")
    assert str(x.dtype) == "float32" and str(torch.tensor(A).dtype) == "torch.float32"
    assert repr(tg.tensor([1.5])).startswith("Tensor(")
    assert isinstance(x.numpy(), np.ndarray)


def test_difference_random_streams():
    tg.manual_seed(0)
    a = tg.randn(5).numpy().copy()
    tg.manual_seed(0)
    assert np.array_equal(tg.randn(5).numpy(), a)                  # reproducible
    torch.manual_seed(0)
    assert not np.allclose(torch.randn(5).numpy(), a)              # but not PyTorch's numbers


def test_difference_loss_target_takes_the_input_dtype():
    x, target = A, (A > 0).astype(np.float64)
    want = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(target))
    got = tg.nn.functional.binary_cross_entropy_with_logits(tg.tensor(x), tg.tensor(target))
    assert str(want.dtype) == "torch.float64" and got.dtype == np.float32
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)


def test_difference_errors_are_the_librarys_classes():
    with pytest.raises(RuntimeError):
        torch.ones(2, 3) @ torch.ones(2, 3)
    with pytest.raises(tg.ShapeError) as e:
        tg.ones(2, 3) @ tg.ones(2, 3)
    assert isinstance(e.value, ValueError) and "(2, 3)" in str(e.value)
