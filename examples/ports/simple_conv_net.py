"""The book's SimpleConvNet (밑바닥부터 시작하는 딥러닝 1, ch07/simple_convnet.py and
train_convnet.py) written the PyTorch way: Convolution -> Relu -> Pooling -> Affine -> Relu ->
Affine -> SoftmaxWithLoss, trained with Adam (lr 0.001) on batches of 100. Run with
`--lib torch` or `--lib tinygrad_ko`; only the imports and the data loading differ.

    python examples/ports/simple_conv_net.py --lib tinygrad_ko --epochs 1 --limit 1000
"""
import argparse

from _data import add_common_args, choose_lib, mnist

if choose_lib() == "torch":
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch.utils.data import DataLoader, TensorDataset
else:
    import tinygrad_ko as torch
    import tinygrad_ko.nn as nn
    import tinygrad_ko.nn.functional as F
    import tinygrad_ko.optim as optim
    from tinygrad_ko.utils.data import DataLoader, TensorDataset


class SimpleConvNet(nn.Module):
    """conv - relu - pool - affine - relu - affine (- softmax, in the loss)."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01):
        super().__init__()
        filter_num = conv_param['filter_num']
        filter_size = conv_param['filter_size']
        filter_pad = conv_param['pad']
        filter_stride = conv_param['stride']
        input_size = input_dim[1]
        conv_output_size = (input_size - filter_size + 2*filter_pad) / filter_stride + 1
        pool_output_size = int(filter_num * (conv_output_size/2) * (conv_output_size/2))

        self.conv1 = nn.Conv2d(input_dim[0], filter_num, filter_size, filter_stride, filter_pad)
        self.pool1 = nn.MaxPool2d(2, stride=2)
        self.affine1 = nn.Linear(pool_output_size, hidden_size)
        self.affine2 = nn.Linear(hidden_size, output_size)
        for layer in (self.conv1, self.affine1, self.affine2):   # the book: 0.01 * randn, 0
            nn.init.normal_(layer.weight, std=weight_init_std)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = x.view(x.size(0), -1)
        x = F.relu(self.affine1(x))
        return self.affine2(x)


def main():
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-interval", type=int, default=50, help="batches between loss lines")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train_set = TensorDataset(*map(torch.tensor, mnist(True, args.limit)))
    test_set = TensorDataset(*map(torch.tensor, mnist(False, args.limit)))
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1000)

    network = SimpleConvNet()
    optimizer = optim.Adam(network.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()

    for epoch in range(1, args.epochs + 1):
        network.train()
        for i, (x, t) in enumerate(train_loader):
            optimizer.zero_grad()
            loss = criterion(network(x), t)
            loss.backward()
            optimizer.step()
            if i % args.log_interval == 0:
                print(f"train loss: {loss.item():.4f}")
        network.eval()
        correct = 0
        with torch.no_grad():
            for x, t in test_loader:
                _, predicted = torch.max(network(x), 1)
                correct += (predicted == t).sum().item()
        print(f"=== epoch:{epoch}, test acc:{correct / len(test_set):.4f} ===")


if __name__ == "__main__":
    main()
