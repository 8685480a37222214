"""Optimizers and LR schedulers: hand-computed steps of each published update rule, convergence,
float32 all the way, exact resumption from state_dict, errors; and the "done when" models."""
import math

import numpy as np
import pytest

import tinygrad_ko as tg
from tinygrad_ko import nn, optim
from tinygrad_ko.optim import lr_scheduler

GRADS = [[0.5, 1.0], [-1.0, 2.0], [0.25, -0.5]]


def run(make_opt, n_steps):
    """Start at p = [1, -2] (float64), feed the gradients GRADS by hand; p after each step."""
    p = nn.Parameter(np.array([1.0, -2.0]))
    opt = make_opt([p])
    out = []
    for g in GRADS[:n_steps]:
        p.grad = tg.tensor(np.array(g))
        opt.step()
        out.append(p.numpy().copy())
    return out


# -- each rule, by hand ----------------------------------------------------------------------------
@pytest.mark.parametrize("make, expected", [
    # p -= lr * g
    (lambda ps: optim.SGD(ps, lr=0.1), [[0.95, -2.1], [1.05, -2.3], [1.025, -2.25]]),
    # b = g, then b = 0.9 b + g;  p -= lr * b
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
     [[0.95, -2.1], [1.005, -2.39], [1.0295, -2.601]]),
    # Nesterov: p -= lr * (g + 0.9 b)
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
     [[0.905, -2.19], [1.0545, -2.651]]),
    # weight decay g += 0.1 p; dampening: b = 0.9 b + 0.5 g (not on the first step)
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1),
     [[0.94, -2.08], [0.9313, -2.2416]]),
    # h += g*g; p -= lr * g / sqrt(h)
    (lambda ps: optim.Adagrad(ps, lr=0.1),
     [[0.9, -2.1], [0.9 + 0.1 / math.sqrt(1.25), -2.1 - 0.2 / math.sqrt(5)]]),
    # lr_decay: the step-t rate is lr / (1 + (t - 1) * lr_decay)
    (lambda ps: optim.AdaGrad(ps, lr=0.1, lr_decay=0.5),
     [[0.9, -2.1], [0.9596284794, -2.1596284794]]),
    # v = 0.9 v + 0.1 g*g; p -= lr * g / (sqrt(v) + eps)
    (lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9),
     [[0.968377225398, -2.031622775602], [0.996948653153, -2.060194203765]]),
    # centered (v - m*m) and momentum 0.5
    (lambda ps: optim.RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.5, centered=True),
     [[0.966666668889, -2.033333332222], [0.978930871603, -2.08139210513],
      [0.977719546563, -2.097719872639]]),
    # m, v moments with bias correction (the first step is lr * sign(g))
    (lambda ps: optim.Adam(ps, lr=0.1),
     [[0.900000002, -2.099999999], [0.936610354241, -2.196518200972],
      [0.950279420339, -2.2553788738]]),
    (lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
     [[0.900000001667, -2.09999999875], [0.925263519446, -2.195272009587]]),
    # amsgrad: v3 < v2 here (beta2 = 0.5), so step 3 divides by sqrt(v2) instead
    (lambda ps: optim.Adam(ps, lr=0.1, betas=(0.9, 0.5), amsgrad=True),
     [[0.900000002, -2.099999999], [0.933425543514, -2.188121881683],
      [0.944701140665, -2.236675984001]]),
    (lambda ps: optim.Adam(ps, lr=0.1, betas=(0.9, 0.5)),
     [[0.900000002, -2.099999999], [0.933425543514, -2.188121881683],
      [0.948553344479, -2.253264045566]]),
    # AdamW: p *= 1 - lr * wd before the Adam step
    (lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.1),
     [[0.890000002, -2.079999999], [0.917710354221, -2.155718200982]]),
])
def test_update_rules_by_hand(make, expected):
    got = run(make, len(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_adam_first_step_is_lr_times_sign():
    p = nn.Parameter(np.array([0.0, 0.0, 0.0]))
    p.grad = tg.tensor(np.array([1e-3, -50.0, 3.0]))
    optim.Adam([p], lr=0.01, eps=0.0).step()
    np.testing.assert_allclose(p.numpy(), [-0.01, 0.01, -0.01], rtol=1e-12)


# -- convergence -----------------------------------------------------------------------------------
def test_book_sgd_reaches_the_minimum_of_x0_sq_plus_x1_sq():
    x = nn.Parameter(np.array([-3.0, 4.0]))
    opt = optim.SGD([x], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        (x[0] ** 2 + x[1] ** 2).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), [0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("make, steps, tol", [
    (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), 300, 1e-6),
    (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), 300, 1e-6),
    (lambda ps: optim.Adagrad(ps, lr=1.0), 300, 1e-8),
    (lambda ps: optim.RMSprop(ps, lr=0.05), 400, 1e-8),
    (lambda ps: optim.RMSprop(ps, lr=0.03, momentum=0.5, centered=True), 400, 1e-8),
    (lambda ps: optim.Adam(ps, lr=0.05), 600, 1e-6),
    # decoupled weight decay pulls towards 0: the minimum moves by about wd / curvature
    (lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=1e-4, amsgrad=True), 600, 1e-3),
])
def test_each_optimizer_converges_on_a_convex_quadratic(make, steps, tol):
    """f(x) = sum(a * (x - c)**2), an elongated bowl, minimum at c."""
    a, c = tg.tensor(np.array([1.0, 4.0, 0.5])), np.array([1.0, -2.0, 0.5])
    x = nn.Parameter(np.array([-3.0, 4.0, 2.0]))
    opt = make([x])
    for _ in range(steps):
        opt.zero_grad()
        (a * (x - tg.tensor(c)) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), c, atol=tol)


# -- dtypes, in place, versions --------------------------------------------------------------------
OPTIMIZERS = [
    (optim.SGD, dict(lr=0.01)), (optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=1e-3,
                                                  nesterov=True)),
    (optim.SGD, dict(lr=0.01, momentum=0.9, dampening=0.1)),
    (optim.Adagrad, dict(lr=0.01, weight_decay=1e-3, lr_decay=0.1)),
    (optim.RMSprop, dict(lr=0.01, weight_decay=1e-3, momentum=0.9, centered=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, weight_decay=1e-3, amsgrad=True)), (optim.Adam, dict(lr=0.01)),
    (optim.AdamW, dict(lr=0.01)),
]


def everything_model():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(),
                         nn.MaxPool2d(2), nn.AvgPool2d(1), nn.Dropout(0.2), nn.Flatten(),
                         nn.Linear(8, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Identity(),
                         nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))


def all_losses(out, t):
    q = np.eye(4, dtype=np.float32)[t]
    return (nn.CrossEntropyLoss(label_smoothing=0.1)(out, t)
            + nn.NLLLoss()(nn.LogSoftmax(1)(out), t)
            + nn.MSELoss()(nn.Softmax(1)(out), q) + nn.BCELoss()(nn.Sigmoid()(out), q)
            + nn.BCEWithLogitsLoss()(out, q) + nn.functional.sum_squared_error(out, q))


@pytest.mark.parametrize("cls, kw", OPTIMIZERS)
def test_float32_params_get_float32_grads_updates_and_state(cls, kw):
    tg.manual_seed(0)
    model = everything_model()
    opt = cls(model.parameters(), **kw)
    x = tg.randn(3, 1, 4, 4)
    t = np.array([0, 3, 1])
    arrays = [p.numpy() for p in model.parameters()]
    for _ in range(2):
        opt.zero_grad()
        loss = all_losses(model(x), t)
        assert loss.dtype == np.float32
        loss.backward()
        assert all(p.grad.dtype == np.float32 for p in model.parameters())
        versions = [p._version[0] for p in model.parameters()]
        opt.step()
        for p, arr, v in zip(model.parameters(), arrays, versions):
            assert p.dtype == np.float32 and p.numpy() is arr          # updated in place
            assert p._version[0] == v + 1
    for st in opt.state.values():
        for k, v in st.items():
            assert isinstance(v, int) if k == "step" else v.dtype == np.float32, k
    assert all(b.dtype == np.float32 for b in model.buffers() if b.dtype.kind == "f")


def test_params_without_grad_are_skipped_and_stale_graphs_refuse_backward():
    used, unused = nn.Parameter([1.0, 2.0]), nn.Parameter([3.0])
    opt = optim.Adam([used, unused], lr=0.1)
    (used * used).sum().backward()
    opt.step()
    assert unused.numpy().tolist() == [3.0] and unused not in opt.state and used in opt.state
    loss = (used * used).sum()
    opt.step()                                 # changes `used`, which the new graph saved
    with pytest.raises(tg.GraphError, match="modified in place"):
        loss.backward()


def test_zero_grad_closure_and_numpy_hyperparameters():
    w = nn.Parameter(np.array([1.0, 2.0], dtype=np.float32))
    opt = optim.SGD([w], lr=np.float64(0.5))             # kept as a Python float: no upcast
    assert type(opt.param_groups[0]["lr"]) is float

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 5.0
    assert w.dtype == np.float32 and w.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad(set_to_none=False)
    assert w.grad.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_wrong_grad_shape_is_a_shape_error():
    w = nn.Parameter(np.zeros(3))
    with pytest.raises(tg.ShapeError, match=r"grad: the gradient has shape \(4,\) but the tensor "
                                            r"has shape \(3,\)"):
        w.grad = tg.tensor(np.ones(4))      # refused where it is assigned (issue 16)
    w._grad = tg.tensor(np.ones(4))         # written past the check: the step still names it
    with pytest.raises(tg.ShapeError, match=r"SGD.step: parameter 0 has shape \(3,\) but its "
                                            r"\.grad has shape \(4,\)"):
        optim.SGD([w], lr=0.1).step()


# -- param groups ----------------------------------------------------------------------------------
def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(np.array([1.0])), nn.Parameter(np.array([1.0]))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    a.grad, b.grad = tg.tensor(np.array([1.0])), tg.tensor(np.array([1.0]))
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)
    c = nn.Parameter(np.array([0.0]))
    opt.add_param_group({"params": [c], "momentum": 0.9})
    assert opt.param_groups[2] == {"params": [c], "lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                                   "weight_decay": 0.0, "nesterov": False}
    with pytest.raises(tg.OpError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    assert "Parameter Group 1" in repr(opt) and "lr: 0.5" in repr(opt)


@pytest.mark.parametrize("make, err, msg", [
    (lambda p: optim.SGD(p, lr=0.1), tg.OpError, "single Tensor"),
    (lambda p: optim.SGD([], lr=0.1), tg.OpError, "empty parameter list"),
    (lambda p: optim.SGD([p, p], lr=0.1), tg.OpError, "appears twice"),
    (lambda p: optim.SGD([p * 2], lr=0.1), tg.GraphError, "not a leaf"),
    (lambda p: optim.SGD([tg.tensor([1, 2])], lr=0.1), tg.DTypeError, "floating-point"),
    (lambda p: optim.SGD([np.ones(2)], lr=0.1), tg.OpError, "not a Tensor"),
    (lambda p: optim.SGD([p], lr=-1.0), tg.OpError, "invalid learning rate"),
    (lambda p: optim.SGD([p], lr="fast"), tg.OpError, "not a number"),
    (lambda p: optim.SGD([p], lr=0.1, nesterov=True), tg.OpError, "Nesterov"),
    (lambda p: optim.SGD([p], lr=0.1, momentum=-0.5), tg.OpError, "momentum"),
    (lambda p: optim.Adam([p], betas=(0.9, 1.0)), tg.OpError, "betas"),
    (lambda p: optim.Adam([p], eps=-1.0), tg.OpError, "eps"),
    (lambda p: optim.RMSprop([p], alpha=-0.1), tg.OpError, "alpha"),
    (lambda p: optim.Adagrad([p], lr_decay=-0.1), tg.OpError, "lr_decay"),
    (lambda p: optim.SGD([{"lr": 0.1}]), tg.OpError, "'params'"),
])
def test_bad_arguments(make, err, msg):
    with pytest.raises(err, match=msg):
        make(nn.Parameter(np.ones(2)))


# -- exact resumption ------------------------------------------------------------------------------
def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def train(model, opt, sched, steps, start):
    rng = np.random.default_rng(start)        # the data of step i depends only on i
    for _ in range(steps):
        x = rng.standard_normal((6, 4)).astype(np.float32)
        t = rng.integers(0, 3, 6)
        opt.zero_grad()
        nn.CrossEntropyLoss()(model(x), t).backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("cls, kw", OPTIMIZERS)
def test_resuming_from_state_dicts_is_bit_exact(cls, kw, tmp_path):
    tg.manual_seed(1)
    model = mlp()
    opt = cls(model.parameters(), **kw)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    train(model, opt, sched, 3, start=0)
    nn.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict()}, tmp_path / "ckpt")
    train(model, opt, sched, 3, start=1)

    tg.manual_seed(2)                          # a different initialisation, overwritten by load
    model2 = mlp()
    opt2 = cls(model2.parameters(), **kw)
    sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    ckpt = nn.load(tmp_path / "ckpt")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    train(model2, opt2, sched2, 3, start=1)
    for (name, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_optimizer_state_dict_is_a_copy_and_load_copies_in():
    w = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.Adam([w], lr=0.1)
    w.grad = tg.tensor(np.array([1.0, 1.0]))
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["state"][0]["step"] == 1
    opt.step()
    assert sd["state"][0]["step"] == 1                            # unchanged by later steps
    opt.load_state_dict(sd)
    assert opt.state[w]["exp_avg"] is not sd["state"][0]["exp_avg"]
    assert opt.state[w]["step"] == 1


def test_load_state_dict_rejects_other_optimizers_and_shapes():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    sgd = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = tg.tensor(np.ones(2)), tg.tensor(np.ones(3))
    sgd.step()
    sd = sgd.state_dict()
    with pytest.raises(tg.CheckpointError, match="another optimizer type"):
        optim.Adam([a, b]).load_state_dict(sd)
    with pytest.raises(tg.CheckpointError, match="group 0 has 2 parameter"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(tg.CheckpointError, match="1 parameter group"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    c = nn.Parameter(np.ones(4))
    with pytest.raises(tg.CheckpointError, match=r"momentum_buffer' of parameter 1 has shape "
                                                  r"\(3,\).*shape \(4,\)"):
        optim.SGD([a, c], lr=0.1, momentum=0.9).load_state_dict(sd)
    with pytest.raises(tg.CheckpointError, match="'state' and 'param_groups'"):
        sgd.load_state_dict({"weights": 1})
    adam = optim.Adam([a, b])
    adam.step()
    bad = adam.state_dict()
    bad["param_groups"][0]["momentum"] = 0.9
    bad["state"][0] = {"momentum_buffer": np.ones(2)}
    with pytest.raises(tg.CheckpointError, match="does not use"):
        adam.load_state_dict(bad)


# -- schedulers ------------------------------------------------------------------------------------
def lrs(make, n, lr=1.0):
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=lr)
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [out[-1]]
    return out


def test_step_exponential_and_cosine_schedules():
    assert lrs(lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.1), 5) == pytest.approx(
        [1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    assert lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=0.5), 3) == [1.0, 0.5, 0.25, 0.125]
    cos = lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.1), 8)
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(9)]
    assert cos == pytest.approx(expected, abs=1e-15)
    assert cos[4] == pytest.approx(0.1) and cos[8] == pytest.approx(1.0)


def test_scheduler_groups_state_dict_and_errors():
    a, b = nn.Parameter(np.ones(1)), nn.Parameter(np.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=1.0)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [1.0, 0.2]
    sched.step()
    assert sched.get_last_lr() == [0.5, 0.1]
    sd = sched.state_dict()
    assert sd["last_epoch"] == 1 and "optimizer" not in sd
    sched.step()
    sched.load_state_dict(sd)
    assert sched.last_epoch == 1
    sched.step()
    assert sched.get_last_lr() == [0.25, 0.05]
    assert "ExponentialLR(gamma=0.5, last_epoch=2" in repr(sched)
    with pytest.raises(tg.CheckpointError, match="another scheduler type"):
        sched.load_state_dict(lr_scheduler.StepLR(
            optim.SGD([a], lr=0.1), step_size=3).state_dict())
    with pytest.raises(tg.OpError, match="step_size must be a positive int"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(tg.OpError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD([a], lr=0.1), step_size=2, last_epoch=3)
    with pytest.raises(tg.OpError, match="expected an optimizer"):
        lr_scheduler.CosineAnnealingLR([a], T_max=3)


# -- "done when": each model in a few lines, and its loss goes down --------------------------------
def blobs(n, d, classes, seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, classes, n)
    centers = rng.standard_normal((classes, d)) * 3
    return (centers[t] + rng.standard_normal((n, d))).astype(np.float32), t


def fit(model, loss_fn, opt, x, t, steps):
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_two_layer_net_trains():
    tg.manual_seed(0)
    x, t = blobs(64, 20, 4, seed=0)
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    losses = fit(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.1), x, t, 30)
    assert losses[-1] < 0.5 * losses[0]
    assert nn.functional.accuracy(net(x), t) > 0.9


def test_small_cnn_trains():
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 16)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32) * 0.3
    x[t == 1, :, :4] += 1.0                       # class 1: a bright top half
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    losses = fit(cnn, nn.CrossEntropyLoss(), optim.Adam(cnn.parameters(), lr=0.01), x, t, 15)
    assert losses[-1] < 0.5 * losses[0]


def test_logistic_regression_trains():
    tg.manual_seed(0)
    x, t = blobs(100, 2, 2, seed=3)
    model = nn.Linear(2, 1)
    loss_fn = nn.BCEWithLogitsLoss()
    y = t.reshape(-1, 1).astype(np.float32)
    losses = fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.5), x, y, 20)
    assert losses[-1] < 0.5 * losses[0]
    assert ((model(x).numpy() > 0) == (y > 0.5)).mean() > 0.9


# -- issue 16: Adadelta, the PyTorch schedules, Optimizer.state --------------------------------------
def _torch():
    return pytest.importorskip("torch", reason="PyTorch (optional) is the reference to compare with")


def test_adadelta_by_hand():
    """v = 0.9 v + 0.1 g^2;  d = sqrt(u + eps) / sqrt(v + eps) g;  u = 0.9 u + 0.1 d^2;  p -= d."""
    p, v, u, eps = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), 1e-6
    expected = []
    for g in map(np.array, GRADS):
        v = 0.9 * v + 0.1 * g * g
        d = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = 0.9 * u + 0.1 * d * d
        p = p - d
        expected.append(p)
    np.testing.assert_allclose(run(lambda ps: optim.Adadelta(ps), 3), expected, rtol=1e-12)
    # the first step is sqrt(eps / (0.1 g^2 + eps)) * g, about sqrt(10 eps) in size
    np.testing.assert_allclose(expected[0], [1 - np.sqrt(1e-6 / (0.025 + 1e-6)) * 0.5,
                                             -2 - np.sqrt(1e-6 / (0.1 + 1e-6))])


def _steps_vs_torch(make_mine, make_theirs, n=8, metrics=None):
    """The same parameters and gradients through our optimizer+scheduler and PyTorch's: the
    parameters, the lrs and the momentum after every step."""
    torch = _torch()
    rng = np.random.default_rng(0)
    p0, grads = rng.standard_normal((3, 4)), rng.standard_normal((n, 3, 4))
    p, tp = nn.Parameter(p0.copy()), torch.tensor(p0.copy(), requires_grad=True)
    (opt, sched), (topt, tsched) = make_mine([p]), make_theirs(torch, [tp])
    for i in range(n):
        p.grad, tp.grad = tg.tensor(grads[i]), torch.tensor(grads[i])
        opt.step()
        topt.step()
        if sched is not None:
            if metrics is None:
                sched.step()
                tsched.step()
            else:
                sched.step(metrics[i])
                tsched.step(metrics[i])
            assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)
        for key in ("momentum", "betas"):
            if key in opt.param_groups[0]:
                assert opt.param_groups[0][key] == pytest.approx(topt.param_groups[0][key])
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)])
def test_adadelta_matches_torch(kw):
    _steps_vs_torch(lambda ps: (optim.Adadelta(ps, **kw), None),
                    lambda torch, ps: (torch.optim.Adadelta(ps, **kw), None))


SCHEDULES = [
    ("SGD", dict(lr=0.1, momentum=0.9), "OneCycleLR", dict(max_lr=1.0, total_steps=8)),
    ("SGD", dict(lr=0.1), "OneCycleLR", dict(max_lr=1.0, total_steps=10, pct_start=0.25,
                                             anneal_strategy="linear", div_factor=10.0)),
    ("Adam", dict(lr=0.1), "OneCycleLR", dict(max_lr=0.5, epochs=2, steps_per_epoch=5,
                                              three_phase=True)),
    ("Adam", dict(lr=0.1), "OneCycleLR", dict(max_lr=0.5, total_steps=8, cycle_momentum=False)),
    ("SGD", dict(lr=0.1), "MultiStepLR", dict(milestones=[2, 5, 5], gamma=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.5), "LambdaLR", dict(lr_lambda=lambda e: 0.9 ** e + 0.1 * e)),
]


@pytest.mark.parametrize("opt_name, opt_kw, sched_name, sched_kw", SCHEDULES)
def test_schedules_match_torch(opt_name, opt_kw, sched_name, sched_kw):
    def mine(ps):
        o = getattr(optim, opt_name)(ps, **opt_kw)
        return o, getattr(lr_scheduler, sched_name)(o, **sched_kw)

    def theirs(torch, ps):
        o = getattr(torch.optim, opt_name)(ps, **opt_kw)
        return o, getattr(torch.optim.lr_scheduler, sched_name)(o, **sched_kw)
    _steps_vs_torch(mine, theirs)


@pytest.mark.parametrize("kw", [dict(patience=1, cooldown=1, factor=0.5),
                                dict(mode="max", patience=0, threshold=0.1, threshold_mode="abs",
                                     min_lr=0.03)])
def test_reduce_lr_on_plateau_matches_torch(kw):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85]
    _steps_vs_torch(lambda ps: (o := optim.SGD(ps, lr=0.1),
                                lr_scheduler.ReduceLROnPlateau(o, **kw)),
                    lambda torch, ps: (o := torch.optim.SGD(ps, lr=0.1),
                                       torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kw)),
                    n=10, metrics=metrics)


def test_one_cycle_by_hand():
    """Warm-up from max_lr/25 to max_lr over 30% of the steps, then down to max_lr/25/1e4 along
    half a cosine; SGD's momentum goes 0.95 -> 0.85 -> 0.95 the other way."""
    o = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    s = lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=11, pct_start=0.3)
    lrs, moms = [s.get_last_lr()[0]], [o.param_groups[0]["momentum"]]
    for _ in range(10):
        s.step()
        lrs.append(s.get_last_lr()[0])
        moms.append(o.param_groups[0]["momentum"])
    up = 0.3 * 11 - 1                                # the warm-up ends at step 2.3
    cos = lambda a, b, pct: b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)  # noqa: E731
    assert lrs[0] == pytest.approx(1 / 25) and moms[0] == pytest.approx(0.95)
    assert lrs[2] == pytest.approx(cos(0.04, 1.0, 2 / up))
    assert lrs[3] == pytest.approx(cos(1.0, 0.04 / 1e4, (3 - up) / (10 - up)))
    assert lrs[10] == pytest.approx(0.04 / 1e4) and moms[10] == pytest.approx(0.95)
    assert min(moms) == pytest.approx(cos(0.85, 0.95, (3 - up) / (10 - up)))
    with pytest.raises(tg.OpError, match="total_steps"):
        s.step()
        s.step()
    with pytest.raises(tg.OpError, match="either total_steps"):
        lr_scheduler.OneCycleLR(o, max_lr=1.0)
    with pytest.raises(tg.OpError, match="cycle_momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad([nn.Parameter(np.zeros(1))]), 1.0, total_steps=3)


def test_multistep_lambda_and_plateau_by_hand():
    o = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    s = lr_scheduler.MultiStepLR(o, milestones=[3, 1], gamma=0.1)
    lrs = [s.get_last_lr()[0]] + [(s.step(), s.get_last_lr()[0])[1] for _ in range(4)]
    assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])
    o = optim.SGD([{"params": [nn.Parameter(np.zeros(1))]},
                   {"params": [nn.Parameter(np.zeros(1))], "lr": 2.0}], lr=1.0)
    s = lr_scheduler.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.5])
    s.step()
    assert s.get_last_lr() == [0.5, 1.0]
    sd = s.state_dict()
    assert "lr_lambdas" not in sd and sd["last_epoch"] == 1
    s.load_state_dict(sd)
    with pytest.raises(tg.OpError, match="one per parameter group"):
        lr_scheduler.LambdaLR(o, [lambda e: 1.0])
    o = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    s = lr_scheduler.ReduceLROnPlateau(o, patience=2, factor=0.5, min_lr=0.3)
    for metric in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]:
        s.step(tg.tensor(metric))            # a 0-d Tensor (the loss) works as well as a float
    # bad epochs 1, 2, 3 -> halve at the 4th step; 3 more -> 0.25 clipped to min_lr 0.3; then 0.3
    assert s.get_last_lr() == [0.3] and o.param_groups[0]["lr"] == 0.3
    restored = lr_scheduler.ReduceLROnPlateau(o)
    restored.load_state_dict(s.state_dict())
    assert restored.state_dict() == s.state_dict()
    with pytest.raises(tg.OpError, match="factor"):
        lr_scheduler.ReduceLROnPlateau(o, factor=1.0)


def test_optimizer_state_is_a_defaultdict_keyed_by_parameter():
    w = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.Adam([w], lr=0.1)
    assert opt.state[w] == {}                 # a fresh parameter: an empty dict, not KeyError
    assert opt.state_dict()["state"] == {}    # ...that is not saved as state
    w.grad = tg.tensor(np.array([1.0, 1.0]))
    opt.step()                                # a looked-up empty entry does not break the step
    assert opt.state[w]["step"] == 1 and set(opt.state[w]) == {"step", "exp_avg", "exp_avg_sq"}
    opt2 = optim.Adam([w], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state[w]["step"] == 1
    fresh = nn.Parameter(np.zeros(1))
    assert opt2.state[fresh] == {}            # still a defaultdict after loading


def test_a_pytorch_style_optimizer_keeps_its_state():
    """An optimizer written the PyTorch way keeps what it likes in self.state[p], and its
    state_dict round-trips."""
    class Momentum(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        def _update_group(self, group):
            for p in group["params"]:
                state = self.state[p]
                if len(state) == 0:
                    state["buf"] = tg.zeros_like(p)
                    state["count"] = 0
                state["buf"] = state["buf"] * 0.9 + p.grad
                state["count"] += 1
                p._data -= group["lr"] * state["buf"]._data

    w = nn.Parameter(np.array([1.0]))
    opt = Momentum([w])
    for _ in range(2):
        w.grad = tg.tensor(np.array([1.0]))
        opt.step()
    assert w.numpy() == pytest.approx([1.0 - 0.1 - 0.19]) and opt.state[w]["count"] == 2
    opt2 = Momentum([w])
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state[w]["count"] == 2 and opt2.state[w]["buf"].numpy() == pytest.approx([1.9])
