"""Neural-network toolkit (PyTorch's ``torch.nn``): ``Module`` and ``Parameter``, layers, losses,
initialisers (``nn.init``), the functional API (``nn.functional``) and checkpoints.

    from tinygrad_ko import nn
    model = nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))
    loss = nn.CrossEntropyLoss()(model(x), t)
"""
from . import functional, init
from .checkpoint import load, load_state, save, save_state
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from .layers import (Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ReLU, Sigmoid,
                     Softmax, Tanh)
from .layers import ELU, Softplus
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d
from . import utils
from .attention import MultiheadAttention
from .embedding import GELU, Embedding, LayerNorm, SiLU
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

__all__ = [
    "functional", "init", "Module", "Parameter", "IncompatibleKeys",
    "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
    "Identity", "Linear", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
    "LogSoftmax", "Dropout", "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d",
    "AdaptiveAvgPool2d",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCELoss", "BCEWithLogitsLoss",
    "save", "load", "save_state", "load_state",
    "Softplus", "ELU",
]
__all__ += ["utils", "Embedding", "LayerNorm", "GELU", "SiLU", "RNNBase", "RNN", "LSTM", "GRU",
            "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention"]
