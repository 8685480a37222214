"""``grad()``: gradients of outputs with respect to chosen inputs, returned instead of stored
(PyTorch's ``torch.autograd.grad``). With ``create_graph=True`` the result can be differentiated
again: Hessian-vector products, gradient penalties, second derivatives."""
from __future__ import annotations

from typing import Sequence

from .function import run_backward
from .tensor import Tensor


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
         retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """d(outputs)/d(inputs), weighted by ``grad_outputs`` (ones for scalar outputs).

    Leaves' ``.grad`` are not touched. An input that the outputs do not depend on gives an error,
    or None with ``allow_unused=True``.
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gos: list = [None] * len(outs)
    else:
        gos = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    if len(gos) != len(outs):
        from .errors import ShapeError
        raise ShapeError(f"grad: {len(outs)} outputs but {len(gos)} grad_outputs")
    result = run_backward(outs, gos, retain_graph, create_graph, inputs=ins)
    assert result is not None
    if not allow_unused:
        for i, g in enumerate(result):
            if g is None:
                from .errors import GraphError
                raise GraphError(f"grad: input {i} (shape {ins[i].shape}) was not used to compute "
                                 f"the outputs; pass allow_unused=True to get None for it")
    return tuple(result)
