"""Convolution, chapter 7 of the book: im2col turns every kh x kw window into a row, so a
convolution is one matrix product.

``conv2d`` is one op. Its forward gathers the windows channels-last, (N, OH, OW, kh, kw, C), with
kh * kw strided copies of the input (no transposed copy of the windows), multiplies them by the
weight as a (kh*kw*C, O) matrix, and returns the (N*OH*OW, O) product as an (N, O, OH, OW) *view*:
no permute copy. The next ops (ReLU, pooling, the next convolution) work on that layout as it is,
and the next convolution reads it channels-last without a copy. Its NumPy backward is the same
products transposed, and skips the input's gradient (the col2im adds) when the input does not need
one (the first layer); where stride is 1 and dy has no more channels than x, it takes both
gradients from the windows of dy instead (dx is then a convolution with the flipped kernel, see
``_flipped_grads``). Its Tensor backward, which ``create_graph=True`` differentiates, is made of
the registered ``im2col``/``col2im`` (the book's column order) and matmuls; the oracle tests check
both agree.

Only basic slicing, ``reshape``/``transpose`` and matmul touch the arrays, so the code also runs
on array libraries that follow NumPy's API (CuPy).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import DTypeError, ShapeError
from ..function import Function
from ..registry import _named_errors, register


def _pair(v, name: str = "") -> tuple[int, int]:
    pair = (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(u) for u in v)
    if len(pair) != 2:
        raise ShapeError(f"{name}: expected an int or a pair, got {v!r}")
    return pair


def _geometry(op: str, shape, kernel, stride, padding) -> tuple[int, int]:
    """Output height and width, with clear errors for windows that do not fit."""
    if len(shape) != 4:
        raise ShapeError(f"{op}: expects input of shape (N, C, H, W), got {tuple(shape)}")
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ShapeError(f"{op}: kernel {kernel} and stride {stride} must be >= 1, padding "
                         f"{padding} >= 0")
    oh = (shape[2] + 2 * ph - kh) // sh + 1
    ow = (shape[3] + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ShapeError(f"{op}: a {kh}x{kw} window does not fit input of shape {tuple(shape)} "
                         f"with padding {padding}")
    return oh, ow


def _zeros(like: np.ndarray, shape, dtype=None) -> np.ndarray:
    """Zeros of the array library of ``like`` (NumPy's calloc is the fastest for NumPy arrays;
    ``zeros_like`` dispatches to other array libraries)."""
    if type(like) is np.ndarray:
        return np.zeros(shape, dtype or like.dtype)
    return np.zeros_like(like, dtype=dtype, shape=shape, order="C")


def _offset(i: int, j: int, stride, oh: int, ow: int) -> tuple[slice, slice]:
    """The rows and columns of the padded input that kernel offset (i, j) reads, one per output
    position: rows i, i + sh, ..., i + sh * (oh - 1)."""
    (sh, sw) = stride
    return slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)


def _pad(x: np.ndarray, padding, value=0.0) -> np.ndarray:
    """x (N, C, H, W) with ``padding`` rows/columns of ``value`` around the image."""
    ph, pw = padding
    if not (ph or pw):
        return x
    n, c, h, w = x.shape
    xp = _zeros(x, (n, c, h + 2 * ph, w + 2 * pw))
    if value != 0:
        xp[...] = value
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _pad_channels_last(x: np.ndarray, padding) -> np.ndarray:
    """x (N, C, H, W) as (N, H + 2 ph, W + 2 pw, C), zeros around: a view when no padding; else
    one copy, cheap when x is already laid out channels-last (a conv's output is)."""
    ph, pw = padding
    xl = x.transpose(0, 2, 3, 1)
    if not (ph or pw):
        return xl
    n, h, w, c = xl.shape
    xp = _zeros(x, (n, h + 2 * ph, w + 2 * pw, c))
    xp[:, ph:ph + h, pw:pw + w] = xl
    return xp


CHUNK_BYTES = 4 << 20   # the windows of a few images at a time: at most 4 MB (peak memory)


def _chunks(n: int, bytes_per_image: int):
    """(start, stop) ranges over n images, each holding at most CHUNK_BYTES of windows."""
    step = max(1, CHUNK_BYTES // max(bytes_per_image, 1))
    return [(n0, min(n, n0 + step)) for n0 in range(0, n, step)]


def _windows(x: np.ndarray, kernel, stride, padding, oh: int, ow: int) -> np.ndarray:
    """The windows of x (N, C, H, W) as an (N*OH*OW, kh*kw*C) matrix (columns in the order kernel
    row, kernel column, channel), in the memory layout that x makes cheapest to write:
    - x channels-last (a conv's output, through ReLU and pooling): rows of the matrix contiguous,
      copied from a strided view of the windows (runs of kw*C values);
    - otherwise (the input image, NCHW): the transpose contiguous, (kh*kw*C, N*OH*OW), each copy a
      run of whole image rows (3.6x faster than the other layout for 1 channel, 5x5, batch 100).
    Either way the matmuls take it as it is (BLAS reads a transposed operand in place)."""
    n, c = x.shape[:2]
    (kh, kw) = kernel
    if x.flags.c_contiguous and c < 8:   # NCHW: write (kh, kw, C, N, OH, OW)
        xp = _pad(x, padding)
        cols = _zeros(x, (kh, kw, c, n, oh, ow))
        for i in range(kh):
            for j in range(kw):
                rows, columns = _offset(i, j, stride, oh, ow)
                cols[i, j] = xp[:, :, rows, columns].transpose(1, 0, 2, 3)
        return cols.reshape(kh * kw * c, n * oh * ow).T
    xp = _pad_channels_last(x, padding)
    if type(xp) is np.ndarray:
        # the windows as a strided view (N, OH, OW, kh, kw, C) of the padded image, copied in one
        # call: a kernel row's kw*C values are one run of the channels-last image, so NumPy copies
        # runs kw times longer than one copy per kernel offset would (2.4-3x faster for 16-64
        # channels, 3x3, batch 100)
        s_n, s_h, s_w, s_c = xp.strides
        view = as_strided(xp, (n, oh, ow, kh, kw, c),
                          (s_n, s_h * stride[0], s_w * stride[1], s_h, s_w, s_c), writeable=False)
        cols = np.empty(view.shape, xp.dtype)
        np.copyto(cols, view)
        return cols.reshape(n * oh * ow, kh * kw * c)
    cols = _zeros(x, (n, oh, ow, kh, kw, c))      # another array library (CuPy): one per offset
    for i in range(kh):
        for j in range(kw):
            rows, columns = _offset(i, j, stride, oh, ow)
            cols[:, :, :, i, j] = xp[:, rows, columns]
    return cols.reshape(n * oh * ow, kh * kw * c)


# -- the book's im2col / col2im (column order C, kh, kw), registered for composites ------------------
def _im2col_sample(s):
    shape = (s.integers(1, 2), s.integers(1, 2), s.integers(2, 5), s.integers(2, 5))
    k = (s.integers(1, 2), s.integers(1, 2))
    return (s.array(shape),), {"kernel": k, "stride": (s.integers(1, 2), s.integers(1, 2)),
                               "padding": (s.integers(0, 1), s.integers(0, 1))}


@register("im2col", sample=_im2col_sample)
class Im2Col(Function):
    """(N, C, H, W) -> (N*OH*OW, C*kh*kw): each window (after padding) becomes a row, columns in
    the book's order (channel, then kernel row, then kernel column);  backward is col2im, which
    adds every row back where it came from."""
    def forward(ctx, x, kernel, stride=(1, 1), padding=(0, 0), pad_value=0.0):
        kernel, stride, padding = _pair(kernel), _pair(stride), _pair(padding)
        oh, ow = _geometry("im2col", x.shape, kernel, stride, padding)
        ctx.geometry = (x.shape, kernel, stride, padding)
        xp = _pad(x, padding, pad_value)
        n, c = x.shape[:2]
        cols = _zeros(x, (n, oh, ow, c) + kernel)
        for i in range(kernel[0]):      # kh * kw strided copies, each vectorised
            for j in range(kernel[1]):
                rows, columns = _offset(i, j, stride, oh, ow)
                cols[:, :, :, :, i, j] = xp[:, :, rows, columns].transpose(0, 2, 3, 1)
        return cols.reshape(n * oh * ow, c * kernel[0] * kernel[1])

    def backward(ctx, grad):
        shape, kernel, stride, padding = ctx.geometry
        return Col2Im.apply(grad, shape=shape, kernel=kernel, stride=stride, padding=padding)


def _col2im_sample(s):
    (x,), kw = _im2col_sample(s)
    oh, ow = _geometry("col2im", x.shape, kw["kernel"], kw["stride"], kw["padding"])
    rows = x.shape[0] * oh * ow
    cols = x.shape[1] * kw["kernel"][0] * kw["kernel"][1]
    return (s.array((rows, cols)),), dict(kw, shape=x.shape)


def _add_windows(g, shape, kernel, stride, padding):
    """Sum window values g (N, OH, OW, C, kh, kw) back into the (N, C, H, W) image they were read
    from; overlapping windows add up."""
    n, c, h, w = shape
    (kh, kw), (ph, pw) = kernel, padding
    oh, ow = g.shape[1:3]
    out = _zeros(g, (n, c, h + 2 * ph, w + 2 * pw))
    for i in range(kh):        # kh * kw strided adds: few, and each is vectorised
        for j in range(kw):
            rows, columns = _offset(i, j, stride, oh, ow)
            out[:, :, rows, columns] += g[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, ph:ph + h, pw:pw + w]


@register("col2im", sample=_col2im_sample)
class Col2Im(Function):
    """The adjoint of im2col: rows (N*OH*OW, C*kh*kw) summed back into (N, C, H, W);
    overlapping windows add up. Its backward is im2col."""
    def forward(ctx, cols, shape, kernel, stride=(1, 1), padding=(0, 0)):
        kernel, stride, padding = _pair(kernel), _pair(stride), _pair(padding)
        oh, ow = _geometry("col2im", shape, kernel, stride, padding)
        ctx.geometry = (kernel, stride, padding)
        n, c = shape[:2]
        return _add_windows(cols.reshape(n, oh, ow, c, *kernel), shape, kernel, stride, padding)

    def backward(ctx, grad):
        kernel, stride, padding = ctx.geometry
        return Im2Col.apply(grad, kernel=kernel, stride=stride, padding=padding)


# -- conv2d ----------------------------------------------------------------------------------------
def _conv_sample(s):
    n, c, o = s.integers(1, 2), s.integers(1, 2), s.integers(1, 2)
    k = s.integers(1, 3)
    h, w = s.integers(k, 5), s.integers(k, 5)
    args = [s.array((n, c, h, w)), s.array((o, c, k, k))]
    if s.boolean():
        args.append(s.array((o,)))
    return tuple(args), {"stride": s.integers(1, 2), "padding": s.integers(0, 1)}


def _conv_call(x, weight, bias=None, stride=1, padding=0):
    return conv2d(x, weight, bias, stride, padding)


@register("conv2d", sample=_conv_sample, call=_conv_call)
class Conv2d(Function):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw), plus bias (O,):
    y[n, o] = sum over c, i, j of w[o, c, i, j] x_pad[n, c, s*oh + i, s*ow + j] + b[o];
    with the windows as rows (im2col), y = cols @ W2 + b, so dW2 = cols^T dy, db = sum of dy,
    dcols = dy W2^T, added back into the image (col2im)."""
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0)):
        if x.dtype.kind in "biu":
            x = x.astype(weight.dtype)
        n, c, h, w = x.shape
        o, _, kh, kw = weight.shape
        oh, ow = _geometry("conv2d", x.shape, (kh, kw), stride, padding)
        w2 = weight.transpose(2, 3, 1, 0).reshape(kh * kw * c, o)   # rows in the order of cols
        y = np.empty_like(x, shape=(n * oh * ow, o), order="C")
        for n0, n1 in _chunks(n, oh * ow * kh * kw * c * x.itemsize):
            cols = _windows(x[n0:n1], (kh, kw), stride, padding, oh, ow)  # (rows, kh*kw*C)
            np.matmul(cols, w2, out=y[n0 * oh * ow:n1 * oh * ow])
        if bias is not None:
            y += bias
        ctx.geometry = (x.shape, (kh, kw), stride, padding)
        # the windows are gathered a few images at a time (_chunks) and not kept for dW:
        # backward gathers them again. All of them at once, kept until backward, made the step's
        # peak memory 2.2x PyTorch's for the MNIST CNN and 2.8x for DeepConvNet
        ctx.w2 = w2
        return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)   # a view: no permute copy

    def backward(ctx, grad):
        shape, kernel, stride, padding = ctx.geometry
        x, weight = ctx.inputs[:2]
        need = ctx.needs_input_grad
        o = weight.shape[0]
        g2 = grad.permute(0, 2, 3, 1).reshape(-1, o)       # (N*OH*OW, O)
        gx = gw = gb = None
        if need[0]:
            gx = Col2Im.apply(g2 @ weight.reshape(o, -1), shape=shape, kernel=kernel,
                              stride=stride, padding=padding)
        if need[1]:
            cols = Im2Col.apply(x, kernel=kernel, stride=stride, padding=padding)
            gw = (g2.T @ cols).reshape(weight.shape)
        if len(need) > 2 and need[2]:
            gb = g2.sum(axis=0)
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)

    def backward_np(ctx, grad):
        shape, kernel, stride, padding = ctx.geometry
        weight = ctx.inputs[1]._data
        need = ctx.needs_input_grad
        o, c = weight.shape[:2]
        n, oh, ow = grad.shape[0], grad.shape[2], grad.shape[3]
        # free when grad is laid out as the forward's output (channels-last), else one copy
        g2 = grad.transpose(0, 2, 3, 1).reshape(n * oh * ow, o)
        x = ctx.inputs[0]._data
        if need[1] and x.dtype.kind in "biu":   # integer images: dW needs them as floats
            x = x.astype(weight.dtype)
        gx = gw = gb = None
        if (need[0] or need[1]) and _flipped_pays(c, o, stride, kernel, padding):
            gx, gw = _flipped_grads(grad, x, weight, padding, need[0], need[1])
        else:
            if need[0]:   # dx: each kernel offset's (N*OH*OW, C) share, added where it was read
                gx = _conv_input_grad(g2, ctx.w2, shape, kernel, stride, padding, oh, ow)
            if need[1]:   # dW2 = cols^T dy, the windows gathered again, a few images at a time
                gw2 = _zeros(g2, (kernel[0] * kernel[1] * c, o))
                for n0, n1 in _chunks(n, oh * ow * kernel[0] * kernel[1] * c * x.itemsize):
                    cols = _windows(x[n0:n1], kernel, stride, padding, oh, ow)
                    gw2 += cols.T @ g2[n0 * oh * ow:n1 * oh * ow]
                gw = np.empty_like(weight)
                gw[...] = gw2.reshape(*kernel, c, o).transpose(3, 2, 0, 1)
        if len(need) > 2 and need[2]:   # ones @ dy (BLAS) rather than a row-by-row sum
            gb = np.ones_like(g2, shape=(g2.shape[0],)) @ g2
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)


def _flipped_pays(c: int, o: int, stride, kernel, padding) -> bool:
    """Whether _flipped_grads applies and is the cheaper backward: it needs stride 1 and padding
    <= k - 1, and pays when dy has no more channels than x (its windows are then no larger than
    x's). Measured on DeepConvNet (batch 100, both gradients): 16 -> 16 on 28x28 and 32 -> 32
    with padding 2 about 1.5x faster, 64 -> 64 1.1x; 16 -> 32 and 32 -> 64 1.1-1.3x slower."""
    return (stride == (1, 1) and o <= c and padding[0] < kernel[0]
            and padding[1] < kernel[1])


def _flipped_grads(grad, x, weight, padding, need_x: bool, need_w: bool):
    """Both gradients of a stride-1 convolution from one gather, the windows of dy padded by
    k - 1 - p (one row per *input* position):
    - dx is a convolution itself, of dy with the kernel turned by 180 degrees and its in- and
      out-channels swapped (the "transposed convolution"):
      dx[c, y, x] = sum over o, i, j of dy_pad[o, y + i, x + j] w[o, c, kh-1-i, kw-1-j],
      so dx's rows are windows @ (the flipped kernel as a (kh*kw*O, C) matrix): no adds;
    - the same windows against x's rows give dW, flipped: windows^T @ x = dW[o, c, kh-1-i, kw-1-j].
    The windows of x, which the other way gathers again for dW, are not needed."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    pad = (kh - 1 - padding[0], kw - 1 - padding[1])
    # the flipped kernel as the forward's (kh*kw*O, C) matrix: rows in the order of dy's windows
    wf2 = weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * o, c)
    gx_rows = np.empty_like(grad, shape=(n * h * w, c), order="C") if need_x else None
    gwf = x_rows = None
    if need_w:
        gwf = _zeros(grad, (kh * kw * o, c))
        x_rows = x.transpose(0, 2, 3, 1).reshape(n * h * w, c)   # free for a channels-last x
    for n0, n1 in _chunks(n, h * w * kh * kw * o * grad.itemsize):
        rows = slice(n0 * h * w, n1 * h * w)
        wins = _windows(grad[n0:n1], (kh, kw), (1, 1), pad, h, w)   # (rows, kh*kw*O)
        if need_x:
            np.matmul(wins, wf2, out=gx_rows[rows])
        if need_w:
            gwf += wins.T @ x_rows[rows]
    gx = gw = None
    if need_x:
        gx = gx_rows.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    if need_w:
        gw = np.empty_like(weight)
        gw[...] = gwf.reshape(kh, kw, o, c)[::-1, ::-1].transpose(2, 3, 0, 1)
    return gx, gw


def _conv_input_grad(g2, w2, shape, kernel, stride, padding, oh: int, ow: int):
    """dx of a convolution from dy as (N*OH*OW, O) rows and the weight as (kh*kw*C, O): one
    product per kernel offset, g2 @ W_ij^T, added into the (channels-last) padded image. 1.7x
    faster than the whole dcols = g2 @ W2^T followed by col2im's strided adds (conv 16 -> 32 3x3 on
    14x14, batch 64: 2.6 vs 4.6 ms): each product is small enough to be added from the cache."""
    n, c, h, w = shape
    (ph, pw) = padding
    gx = _zeros(g2, (n, h + 2 * ph, w + 2 * pw, c))
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            k = (i * kernel[1] + j) * c
            rows, columns = _offset(i, j, stride, oh, ow)
            gx[:, rows, columns] += (g2 @ w2[k:k + c].T).reshape(n, oh, ow, c)
    return gx[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2)


def _conv_padding(padding, kernel, stride, x_shape) -> tuple[tuple[int, int], bool]:
    """(padding pair, crop) for an int, a pair, 'valid' or 'same'. 'same' pads k - 1 in all; an
    odd total puts the extra row/column at the bottom/right, as PyTorch: padded by the larger half
    on both sides, the output's first row/column is then one too many (``crop``)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), False
        if padding != "same":
            raise ShapeError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', got "
                             f"{padding!r}")
        if stride != (1, 1):
            raise ShapeError(f"conv2d: padding='same' needs stride 1 (got stride {stride}), as "
                             f"in PyTorch: give the padding as numbers for a strided convolution")
        return (kernel[0] // 2, kernel[1] // 2), kernel[0] % 2 == 0 or kernel[1] % 2 == 0
    return _pair(padding, "conv2d"), False


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) or (C, H, W) with weight (O, C, kh, kw), plus bias
    (O,). ``padding``: an int, a pair, ``'valid'`` (0) or ``'same'`` (the output as large as the
    input; stride 1; an even kernel pads one more at the bottom/right, as PyTorch)."""
    from ..tensor import _as_tensor
    x, weight = _as_tensor(x, "conv2d"), _as_tensor(weight, "conv2d")
    if x.ndim == 3 and weight.ndim == 4:     # one image (C, H, W): unbatched in, unbatched out
        return conv2d(x.unsqueeze(0), weight, bias, stride, padding).squeeze(0)
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ShapeError(f"conv2d: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape}: expected input (N, {weight.shape[1] if weight.ndim == 4 else 'C'}"
                         f", H, W) and weight (out_channels, in_channels, kh, kw)")
    if x.dtype != weight.dtype and x.dtype.kind == "f":
        raise DTypeError(f"conv2d: input is {x.dtype} but the weight is {weight.dtype}; convert one "
                         f"of them (x.astype({weight.dtype}) or model.to({x.dtype}))")
    if bias is not None:
        bias = _as_tensor(bias, "conv2d")
        if bias.shape != (weight.shape[0],):
            raise ShapeError(f"conv2d: bias of shape {bias.shape} does not fit weight of shape "
                             f"{weight.shape}; expected ({weight.shape[0]},)")
    kernel, stride = tuple(weight.shape[2:]), _pair(stride, "conv2d")
    padding, crop = _conv_padding(padding, kernel, stride, x.shape)
    try:
        _geometry("conv2d", x.shape, kernel, stride, padding)
    except ShapeError as e:
        raise ShapeError(f"{e} (weight of shape {weight.shape})") from None
    inputs = (x, weight) if bias is None else (x, weight, bias)
    y = Conv2d.apply(*inputs, stride=stride, padding=padding)
    if crop:
        y = y[:, :, 1 - kernel[0] % 2:, 1 - kernel[1] % 2:]
    return y


# errors from inside (a bad padding value, say) are reported as the library's, under conv2d's name
conv2d = _named_errors("conv2d", conv2d)
