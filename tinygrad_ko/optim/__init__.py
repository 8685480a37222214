"""Optimizers and learning-rate schedules (PyTorch's ``torch.optim``).

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, t in batches:
        opt.zero_grad()
        loss_fn(model(x), t).backward()
        opt.step()
"""
from . import lr_scheduler
from .optimizer import Optimizer
from .optimizers import SGD, AdaGrad, Adagrad, Adam, AdamW, RMSprop
from .optimizers import Adadelta

__all__ = ["Optimizer", "SGD", "Adagrad", "AdaGrad", "RMSprop", "Adam", "AdamW", "lr_scheduler",
           "Adadelta"]
