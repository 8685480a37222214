"""The PyTorch quickstart tutorial (pytorch.org/tutorials/beginner/basics/quickstart_tutorial.html),
run with `--lib torch` or `--lib tinygrad_ko`. Only the imports and the data loading differ from the
tutorial: FashionMNIST (torchvision) is replaced by MNIST read from its IDX files, scaled to [0, 1]
as ToTensor() does.

    python examples/ports/quickstart.py --lib tinygrad_ko --epochs 1 --limit 2000 --lr 0.1
"""
import argparse
import os

from _data import add_common_args, choose_lib, mnist

if choose_lib() == "torch":
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
else:
    import tinygrad_ko as torch
    from tinygrad_ko import nn
    from tinygrad_ko.utils.data import DataLoader, TensorDataset

parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--lr", type=float, default=1e-3, help="SGD's learning rate (default: 1e-3)")
parser.add_argument("--log-interval", type=int, default=100, help="batches between loss lines")
parser.add_argument("--out", default=".", help="folder for model.pth")
args = parser.parse_args()

# Download training data from open datasets. (Here: MNIST from its IDX files.)
training_data = TensorDataset(*map(torch.tensor, mnist(True, args.limit)))
# Download test data from open datasets.
test_data = TensorDataset(*map(torch.tensor, mnist(False, args.limit)))

batch_size = 64

# Create data loaders.
train_dataloader = DataLoader(training_data, batch_size=batch_size)
test_dataloader = DataLoader(test_data, batch_size=batch_size)

for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")


# Define model
class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28*28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)

        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        if batch % args.log_interval == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")


epochs = args.epochs
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    test(test_dataloader, model, loss_fn)
print("Done!")

path = os.path.join(args.out, "model.pth")
torch.save(model.state_dict(), path)
print("Saved PyTorch Model State to model.pth")

model = NeuralNetwork().to(device)
model.load_state_dict(torch.load(path, weights_only=True))

classes = [
    "Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine",
]

model.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
