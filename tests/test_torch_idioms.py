"""Everyday PyTorch idioms, each a small function ``idiom(torch, nn, F)`` written as PyTorch code and
run once with the real torch and once with ``tinygrad_ko`` in its place (tests/torch_compare.py):
the same results, dtypes and shapes, or the same refusal."""
from __future__ import annotations

import numpy as np
import pytest

from torch_compare import run_both

torch = pytest.importorskip("torch", reason="PyTorch is an optional test dependency: "
                                            "pip install -e '.[compare]'")

RNG = np.random.default_rng(7)
OUT = RNG.standard_normal((5, 4)).astype(np.float32)          # a batch of logits
Y = np.array([1, 0, 3, 3, 2])
IMG = RNG.standard_normal((2, 1, 6, 6)).astype(np.float32)
IDIOMS = {}


def idiom(fn):
    IDIOMS[fn.__name__] = fn
    return fn


def _fill(torch, module):
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            n = int(np.prod(tuple(p.shape)))
            p.copy_(torch.tensor((np.cos(np.arange(n) * 0.3 + i) * 0.2).astype(np.float32)
                                 .reshape(tuple(p.shape))))
    return module


@idiom
def max_unpack(torch, nn, F):
    out = torch.tensor(OUT)
    _, pred = out.max(1)
    return pred


@idiom
def max_unpack_batch_of_two(torch, nn, F):
    _, pred = torch.max(torch.tensor(OUT[:2]), 1)
    return pred


@idiom
def accuracy_sum_item(torch, nn, F):
    pred = torch.tensor(OUT).argmax(dim=1)
    return (pred == torch.tensor(Y)).sum().item()


@idiom
def accuracy_float_mean(torch, nn, F):
    pred = torch.tensor(OUT).argmax(1)
    return (pred == torch.tensor(Y)).float().mean().item()


@idiom
def correct_type_float(torch, nn, F):
    pred = torch.tensor(OUT)
    return (pred.argmax(1) == torch.tensor(Y)).type(torch.float).sum().item()


@idiom
def argmax_keepdim_eq_view_as(torch, nn, F):
    output, target = torch.tensor(OUT), torch.tensor(Y)
    pred = output.argmax(dim=1, keepdim=True)
    return pred.eq(target.view_as(pred)).sum().item()


@idiom
def view_batch_flatten(torch, nn, F):
    x = torch.tensor(IMG)
    return x.view(x.size(0), -1)


@idiom
def reshape_minus_one(torch, nn, F):
    return torch.tensor(IMG).reshape(-1, 36).shape


@idiom
def loss_item(torch, nn, F):
    loss = F.cross_entropy(torch.tensor(OUT), torch.tensor(Y))
    return loss.item()


@idiom
def no_grad_block(torch, nn, F):
    model = _fill(torch, nn.Linear(4, 2))
    with torch.no_grad():
        out = model(torch.tensor(OUT))
    return out, out.requires_grad


@idiom
def train_eval_flags(torch, nn, F):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    flags = [model.training]
    model.eval()
    flags += [model.training, model[1].training]
    model.train()
    flags += [model.training, model[1].training]
    return flags, model(torch.tensor(OUT)).shape


@idiom
def eval_dropout_is_identity(torch, nn, F):
    model = nn.Dropout(0.5)
    model.eval()
    return model(torch.tensor(OUT))


@idiom
def zero_grad_backward_step(torch, nn, F):
    model = _fill(torch, nn.Linear(4, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(torch.tensor(OUT)), torch.tensor(Y % 3))
        loss.backward()
        optimizer.step()
    return list(model.parameters()), loss.item()


@idiom
def zero_grad_sets_none(torch, nn, F):
    model = nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.tensor(OUT)).sum().backward()
    optimizer.zero_grad()
    return [p.grad is None for p in model.parameters()]


@idiom
def manual_seed_reproduces(torch, nn, F):
    torch.manual_seed(0)
    a = torch.randn(3)
    torch.manual_seed(0)
    b = torch.randn(3)
    return bool((a == b).all())


@idiom
def to_device(torch, nn, F):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = _fill(torch, nn.Linear(4, 2)).to(device)
    x = torch.tensor(OUT).to(device)
    return model(x), str(device)


@idiom
def labels_indexed_by_argmax(torch, nn, F):
    labels = ["cat", "dog", "bird", "fish"]
    pred = torch.tensor(OUT[0])
    return labels[pred.argmax()]


@idiom
def cat_dim1(torch, nn, F):
    x = torch.tensor(OUT)
    return torch.cat([x, x * 2], dim=1)


@idiom
def unsqueeze0(torch, nn, F):
    return torch.tensor(OUT[0]).unsqueeze(0)


@idiom
def float_long(torch, nn, F):
    return torch.tensor(Y).float(), torch.tensor(OUT).long()


@idiom
def masked_fill_neg_inf_softmax(torch, nn, F):
    x = torch.tensor(OUT)
    mask = torch.tensor(OUT < 0)
    return F.softmax(x.masked_fill(mask, float("-inf")), dim=1)


@idiom
def softmax_dim1(torch, nn, F):
    return F.softmax(torch.tensor(OUT), dim=1), torch.softmax(torch.tensor(OUT), dim=1)


@idiom
def log_softmax_method(torch, nn, F):
    return torch.tensor(OUT).log_softmax(dim=-1)


@idiom
def clamp_min0(torch, nn, F):
    return torch.tensor(OUT).clamp(min=0), torch.tensor(OUT).clamp(max=0.5)


@idiom
def kaiming_normal_init(torch, nn, F):
    w = nn.Linear(300, 200).weight
    nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
    return round(float(w.detach().numpy().std()), 2), w.requires_grad


@idiom
def xavier_uniform_and_zeros(torch, nn, F):
    lin = nn.Linear(50, 40)
    nn.init.xavier_uniform_(lin.weight)
    nn.init.zeros_(lin.bias)
    bound = float(np.sqrt(6 / 90))
    return bool(lin.weight.abs().max().item() <= bound), lin.bias


@idiom
def state_dict_keys(torch, nn, F):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(torch.flatten(F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2), 1))
    model = Net()
    return list(model.state_dict().keys()), Net()(torch.tensor(IMG)).shape


@idiom
def load_state_dict_copies(torch, nn, F):
    a, b = _fill(torch, nn.Linear(4, 2)), nn.Linear(4, 2)
    result = b.load_state_dict(a.state_dict())
    return b(torch.tensor(OUT)), list(result.missing_keys), list(result.unexpected_keys)


@idiom
def count_parameters(torch, nn, F):
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Flatten(), nn.Linear(9216, 128))
    return sum(p.numel() for p in model.parameters()), sum(
        p.numel() for p in model.parameters() if p.requires_grad)


@idiom
def named_parameters(torch, nn, F):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    return [(name, tuple(p.shape)) for name, p in model.named_parameters()]


@idiom
def freeze_parameters(torch, nn, F):
    model = _fill(torch, nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)))
    for p in model[0].parameters():
        p.requires_grad = False
    model(torch.tensor(OUT)).sum().backward()
    return [p.grad is None for p in model.parameters()]


@idiom
def tensor_from_list_and_dtype(torch, nn, F):
    return torch.tensor([[1, 2], [3, 4]], dtype=torch.float32), torch.tensor([1.5, 2.5]).dtype


@idiom
def detach_cpu_numpy(torch, nn, F):
    x = torch.tensor(OUT, requires_grad=True)
    return (x * 2).detach().cpu().numpy()


@idiom
def item_in_fstring(torch, nn, F):
    loss = F.mse_loss(torch.tensor(OUT), torch.zeros(5, 4))
    return f"loss: {loss.item():>7f}"


@idiom
def size_and_shape(torch, nn, F):
    x = torch.tensor(IMG)
    return x.shape, x.size(), x.size(0), x.shape[1:], len(x), x.ndim, x.dim()


@idiom
def sum_dim_keepdim(torch, nn, F):
    x = torch.tensor(OUT)
    return x.sum(dim=1, keepdim=True), x.mean(0), x.std(dim=0)


@idiom
def permute_and_transpose(torch, nn, F):
    x = torch.tensor(IMG)
    return x.permute(0, 2, 3, 1).shape, x.transpose(2, 3), x.squeeze(1).shape


@idiom
def zeros_like_and_ones(torch, nn, F):
    x = torch.tensor(OUT)
    return torch.zeros_like(x), torch.ones(2, 3, dtype=torch.long)


@idiom
def arange_and_eye(torch, nn, F):
    return torch.arange(0, 10, 2), torch.eye(3)[torch.tensor(Y % 3)]


@idiom
def gather_rows_with_arange(torch, nn, F):
    logp = F.log_softmax(torch.tensor(OUT), dim=1)
    return -logp[torch.arange(5), torch.tensor(Y)].mean()


@idiom
def nll_of_log_softmax_equals_cross_entropy(torch, nn, F):
    x, y = torch.tensor(OUT), torch.tensor(Y)
    return F.nll_loss(F.log_softmax(x, dim=1), y), F.cross_entropy(x, y)


@idiom
def module_call_and_children(torch, nn, F):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    return [type(m).__name__ for m in model.children()], len(list(model.modules()))


@idiom
def custom_module_forward(torch, nn, F):
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(4, 8), nn.Linear(8, 3)])

        def forward(self, x):
            for layer in self.layers[:-1]:
                x = F.relu(layer(x))
            return self.layers[-1](x)
    model = _fill(torch, MLP())
    return model(torch.tensor(OUT))


@idiom
def grad_of_a_leaf(torch, nn, F):
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x ** 2).sum()
    y.backward()
    return x.grad, x.is_leaf, y.grad_fn is not None


@idiom
def autograd_grad_create_graph(torch, nn, F):
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (grad,) = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(grad.sum(), x)
    return grad, g2


@idiom
def scheduler_step_per_epoch(torch, nn, F):
    model = nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    lrs = []
    for epoch in range(3):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


@idiom
def where_and_comparison(torch, nn, F):
    x = torch.tensor(OUT)
    return torch.where(x > 0, x, torch.zeros_like(x)), (x > 0).sum().item()


@idiom
def tensor_iteration(torch, nn, F):
    return [row.sum().item() for row in torch.tensor(OUT)]


@idiom
def boolean_mask_select(torch, nn, F):
    x = torch.tensor(OUT)
    return x[x > 0]


@idiom
def dataloader_loop(torch, nn, F):
    ds = torch.utils.data.TensorDataset(torch.tensor(OUT), torch.tensor(Y))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, shuffle=False)
    total = 0
    for batch, (X, y) in enumerate(loader):
        total += (X.argmax(1) == y).sum().item()
    return total, batch, len(loader.dataset)


@pytest.mark.parametrize("name", sorted(IDIOMS))
def test_idiom(name):
    run_both(torch, IDIOMS[name], rtol=1e-5, atol=1e-6)


def test_there_are_enough_idioms():
    assert len(IDIOMS) >= 40
