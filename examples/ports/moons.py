"""micrograd's demo (github.com/karpathy/micrograd, demo.ipynb) written with PyTorch tensors: an MLP
2-16-16-1 separating the two moons, trained with an SVM max-margin loss plus L2 regularisation and
plain SGD with a decaying learning rate (p.data -= learning_rate * p.grad). Run with `--lib torch`
or `--lib tinygrad_ko`; only the imports differ. The data come from a NumPy make_moons (the
notebook's comes from scikit-learn).

    python examples/ports/moons.py --lib tinygrad_ko --steps 100
"""
import argparse

from _data import add_common_args, choose_lib, make_moons

if choose_lib() == "torch":
    import torch
    import torch.nn as nn
else:
    import tinygrad_ko as torch
    import tinygrad_ko.nn as nn


def main():
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--log-interval", type=int, default=10)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    X, y = make_moons(n_samples=args.limit or 100, noise=0.1)
    X = torch.tensor(X)
    y = torch.tensor(y) * 2 - 1  # make y be -1 or 1

    # initialize a model: micrograd's MLP(2, [16, 16, 1]), weights uniform in [-1, 1], bias 0
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                          nn.Linear(16, 1))
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.uniform_(layer.weight, -1, 1)
            nn.init.zeros_(layer.bias)
    print(model)
    print("number of parameters", sum(p.numel() for p in model.parameters()))

    # loss function
    def loss():
        # forward the model to get scores
        scores = model(X).squeeze(1)

        # svm "max-margin" loss
        losses = (1 + -y * scores).relu()
        data_loss = losses.mean()
        # L2 regularization
        alpha = 1e-4
        reg_loss = alpha * sum((p * p).sum() for p in model.parameters())
        total_loss = data_loss + reg_loss

        # also get accuracy
        accuracy = ((y > 0) == (scores > 0)).float().mean()
        return total_loss, accuracy.item()

    total_loss, acc = loss()
    print(total_loss, acc)

    # optimization
    for k in range(args.steps):

        # forward
        total_loss, acc = loss()

        # backward
        model.zero_grad()
        total_loss.backward()

        # update (sgd)
        learning_rate = 1.0 - 0.9*k/args.steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad

        if k % args.log_interval == 0 or k == args.steps - 1:
            print(f"step {k} loss {total_loss.item()}, accuracy {acc*100}%")


if __name__ == "__main__":
    main()
