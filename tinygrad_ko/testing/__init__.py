"""Property-test gradients, in your own project as in tinygrad_ko's (needs the ``test`` extra:
``pip install tinygrad_ko[test]``, which brings hypothesis and pytest).

The library's oracle tests, for your op, loss or layer, in one line of a pytest file::

    from tinygrad_ko.registry import unary
    from tinygrad_ko.testing import op_tests

    TestSoftplus = op_tests(Softplus, sample=unary(-3.0, 3.0))   # a Function subclass
    TestMyLoss = op_tests(my_loss, sample=draw_prediction_and_target)   # any function of Tensors

or, inside a test function, ``check_op(Softplus, sample=unary(-3.0, 3.0))``. Checked, on inputs
that hypothesis draws and shrinks: first- and second-order gradients against central differences,
float32 in -> float32 out and float32 gradients, ``backward_np`` equal to ``backward``, and the
declared errors on invalid inputs. A failure reports the smallest failing input, the worst
element, backprop's and the numerical value, and the tolerances.

Building blocks:

    check_op(op, sample, ...)    run the checks with hypothesis (raises OpCheckError)
    op_tests(op, sample, ...)    the same, as a pytest test class (one test per check)
    check_inputs(op, args, ...)  the checks on one given input (reproduce a reported failure)
    register_profiles()          hypothesis profiles 'fast' (12 examples) and 'thorough' (300)
    shapes(), broadcastable_shapes(n), float_arrays(shape, ...)   strategies for your own tests
    op_inputs(spec)              valid inputs for a registry op, drawn by the op's own ``sample``
"""
from .checks import CHECKS, OpCheckError, check_inputs, format_value
from .runner import check_op, inputs_strategy, op_tests
from .strategies import (GAP, HypothesisSampler, broadcastable_shapes, float_arrays, op_inputs,
                         register_profiles, shapes)

# CHECKS (the check names) is importable too; not in __all__, as a constant has no docstring
__all__ = ["check_op", "op_tests", "check_inputs", "OpCheckError", "inputs_strategy",
           "format_value", "shapes", "broadcastable_shapes", "float_arrays", "HypothesisSampler",
           "op_inputs", "register_profiles", "GAP"]
