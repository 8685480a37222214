"""Every differentiable op of tinygrad_ko, one class each (forward and backward side by side),
each registered in ``tinygrad_ko.registry.REGISTRY`` together with how to test it."""
from .elementwise import (Abs, Add, Clip, Cos, Div, Exp, LeakyReLU, Log, Maximum, Minimum, Mul, Neg,
                          Pow, ReLU, Sigmoid, Sin, Sqrt, Sub, Tanh, Where)
from .elementwise import ELU, Softplus
from .linalg import MatMul
from .nn import Linear, batch_norm, dropout
from .conv import Col2Im, Conv2d, Im2Col, conv2d
from .pool import MaxPool2d, adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .loss import (BCEWithLogits, BinaryCrossEntropy, CrossEntropy, mse_loss, nll_loss,
                   sum_squared_error)
from .reduce import LogSoftmax, LogSumExp, Max, Mean, Min, Softmax, Sum, Var, std
from .shape import (BroadcastTo, Cast, Clone, Concatenate, GetItem, Reshape, ScatterAdd, Stack, SumTo,
                    Transpose, flatten, squeeze, unsqueeze)

__all__ = [
    "Abs", "Add", "Clip", "Cos", "Div", "Exp", "LeakyReLU", "Log", "Maximum", "Minimum", "Mul", "Neg",
    "Pow", "ReLU", "Sigmoid", "Sin", "Sqrt", "Sub", "Tanh", "Where", "MatMul", "LogSoftmax",
    "LogSumExp", "Max", "Mean", "Min", "Softmax", "Sum", "Var", "std", "BroadcastTo", "Cast", "Clone",
    "Concatenate", "GetItem", "Reshape", "ScatterAdd", "Stack", "SumTo", "Transpose", "flatten",
    "squeeze", "unsqueeze", "Linear", "batch_norm", "dropout", "Col2Im", "Im2Col", "MaxPool2d", "avg_pool2d",
    "Conv2d", "adaptive_avg_pool2d",
    "conv2d", "max_pool2d", "BCEWithLogits", "BinaryCrossEntropy", "CrossEntropy", "mse_loss",
    "nll_loss", "sum_squared_error",
    "ELU", "Softplus",
    "GELU", "GELUGrad", "SiLU", "gelu", "silu", "Embedding", "LayerNorm", "Tril", "Triu",
    "embedding", "layer_norm", "scaled_dot_product_attention", "tril", "triu", "LSTMSequence",
    "gru_cell", "lstm_cell", "lstm_sequence", "rnn_relu_cell", "rnn_tanh_cell",
]
from .activation import GELU, GELUGrad, SiLU, gelu, silu
from .sequence import (Embedding, LayerNorm, Tril, Triu, embedding, layer_norm,
                       scaled_dot_product_attention, tril, triu)
from .recurrent import (LSTMSequence, gru_cell, lstm_cell, lstm_sequence, rnn_relu_cell,
                        rnn_tanh_cell)
