"""The book's TwoLayerNet (밑바닥부터 시작하는 딥러닝 1, ch05/two_layer_net.py and
train_neuralnet.py) written the PyTorch way: Affine -> Relu -> Affine -> SoftmaxWithLoss becomes
nn.Linear, nn.ReLU, nn.Linear and nn.CrossEntropyLoss; the hand-written update becomes optim.SGD.
Run with `--lib torch` or `--lib tinygrad_ko`; only the imports and the data loading differ.

    python examples/ports/two_layer_net.py --lib tinygrad_ko --epochs 2 --limit 5000
"""
import argparse

from _data import add_common_args, choose_lib, mnist

if choose_lib() == "torch":
    import torch
    import torch.nn as nn
    import torch.optim as optim
    from torch.utils.data import DataLoader, TensorDataset
else:
    import tinygrad_ko as torch
    import tinygrad_ko.nn as nn
    import tinygrad_ko.optim as optim
    from tinygrad_ko.utils.data import DataLoader, TensorDataset


class TwoLayerNet(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        super().__init__()
        self.affine1 = nn.Linear(input_size, hidden_size)
        self.relu1 = nn.ReLU()
        self.affine2 = nn.Linear(hidden_size, output_size)
        for layer in (self.affine1, self.affine2):     # the book: W = 0.01 * randn, b = 0
            nn.init.normal_(layer.weight, std=weight_init_std)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        return self.affine2(self.relu1(self.affine1(x)))


def accuracy(model, loader):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, t in loader:
            correct += (model(x).argmax(dim=1) == t).sum().item()
    model.train()
    return correct / len(loader.dataset)


def main():
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--epochs", type=int, default=17, help="the book's 10000 iterations of "
                        "batches of 100 are about 17 epochs")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train_set = TensorDataset(*map(torch.tensor, mnist(True, args.limit, flatten=True)))
    test_set = TensorDataset(*map(torch.tensor, mnist(False, args.limit, flatten=True)))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    train_eval_loader = DataLoader(train_set, batch_size=1000)
    test_loader = DataLoader(test_set, batch_size=1000)

    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(network.parameters(), lr=args.lr)

    for epoch in range(args.epochs):
        for x_batch, t_batch in train_loader:
            loss = loss_fn(network(x_batch), t_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        train_acc = accuracy(network, train_eval_loader)
        test_acc = accuracy(network, test_loader)
        print(f"epoch {epoch + 1} | loss {loss.item():.4f} | train acc, test acc | "
              f"{train_acc:.4f}, {test_acc:.4f}")


if __name__ == "__main__":
    main()
