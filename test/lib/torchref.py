"""PyTorch references the parity tests share (Debian's python3-torch)."""
import torch
import torch.nn.functional as F


class MLP(torch.nn.Module):
    """examples/mlp.mlir in PyTorch: 784-1024-1024-10, ReLU, cross-entropy;
    state_dict keys fc1.weight, ..., fc3.bias. With activation=F.gelu:
    test/Parity/Inputs/mlp-gelu.mlir."""

    def __init__(self, activation=F.relu):
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 1024)
        self.fc2 = torch.nn.Linear(1024, 1024)
        self.fc3 = torch.nn.Linear(1024, 10)
        self.activation = activation

    def forward(self, x, y):
        x = self.activation(self.fc1(x))
        x = self.activation(self.fc2(x))
        return F.cross_entropy(self.fc3(x), y)


def mlp_for(model_file):
    """The PyTorch MLP of an ftc MLP file: examples/mlp.mlir (ReLU) or
    test/Parity/Inputs/mlp-gelu.mlir (GELU), told apart by their
    activation op."""
    with open(model_file) as f:
        text = f.read()
    activation = F.gelu if "train.gelu" in text else F.relu
    return lambda: MLP(activation)
